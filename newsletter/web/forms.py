"""Forms: Flask-WTF gives CSRF; the real validation lives in the services."""
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField


class SubscribeForm(FlaskForm):
    email = EmailField("Email")
    name = StringField("Name (optional)")
    # The honeypot: hidden from people by CSS, filled in by naive bots.
    website = StringField("Website")


class ConfirmForm(FlaskForm):
    pass
