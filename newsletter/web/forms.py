"""Forms: Flask-WTF gives CSRF; the real validation lives in the services."""
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField


class SubscribeForm(FlaskForm):
    email = EmailField("Email")
    name = StringField("Name (optional)")
    # The honeypot: hidden from people by CSS, filled in by naive bots.
    website = StringField("Website")


class ConfirmForm(FlaskForm):
    pass


class UnsubscribeForm(FlaskForm):
    """The button on the unsubscribe page; CSRF is not needed (the token is the secret)."""

    class Meta:
        csrf = False

    confirm = HiddenField(default="yes")
