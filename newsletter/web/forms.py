"""Forms: Flask-WTF gives CSRF; the real validation lives in the services."""
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField


class SubscribeForm(FlaskForm):
    email = EmailField("Email")
    name = StringField("Name (optional)")
    # The honeypot: hidden from people by CSS, filled in by naive bots.
    website = StringField("Website")


class EmbedSubscribeForm(SubscribeForm):
    """The form inside the comparison site's iframe. There the browser sends no
    session cookie (it is a third-party frame, and the cookie is SameSite=Lax), so
    the session-bound CSRF token cannot work; a signed, timed ticket from the form
    page stands in for it (`security.embed_ticket`), with an Origin check."""

    class Meta:
        csrf = False

    ticket = HiddenField()


class ConfirmForm(FlaskForm):
    pass
