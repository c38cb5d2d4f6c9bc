"""Public pages for readers and subscribers: subscribe, confirm, unsubscribe."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property

from flask import Blueprint, Flask, abort, current_app, render_template, request

from workers.readers import send_welcome

from ..audience import subscriptions, tokens
from ..audience.addresses import InvalidSubscription
from ..audience.models import SubscriberStatus
from ..audience.subscriptions import Consent
from ..readers import categories, welcome
from .context import get_session
from .context import settings as _settings
from .forms import ConfirmForm, EmbedSubscribeForm, SubscribeForm
from .jobs import after_commit
from .security import csrf, embed_post_is_ours, embed_ticket, take_subscribe_limit

log = logging.getLogger(__name__)
bp = Blueprint("public", __name__)
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
           'fill="#1a56db"/><path d="M7 11h18v12H7z" fill="none" stroke="#fff" stroke-width="2"/>'
           '<path d="M7 11l9 7 9-7" fill="none" stroke="#fff" stroke-width="2"/></svg>')
# How RFC 8058 says mail clients send the one-click POST.
ONE_CLICK_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _consent() -> Consent:
    return Consent(ip=request.remote_addr or "", user_agent=request.headers.get("User-Agent", ""))


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return render_template("web/subscribe.html", form=SubscribeForm(), errors={})


class _KnownCategories(Sequence):
    """The known categories, read from the database only when a page shows them: most
    pages (the answer to a subscribe among them) never do, and need no query."""

    @cached_property
    def _names(self) -> list[str]:
        return categories.known(get_session())

    def __getitem__(self, index):
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)


@bp.app_context_processor
def _category_choices():
    """The categories a reader may pick from, for the forms that offer them."""
    return {"category_choices": _KnownCategories()}


def chosen_categories(session) -> str:
    """The form's categories as a key; "*" (all) wins over any ticked ones, and none
    ticked is all too, so only a choice of some is checked against the database."""
    picked = request.form.getlist("category")
    if "*" in picked or not any(picked):
        return categories.ALL
    return categories.key_of(picked, categories.known(session))


@bp.get("/embed")
def embed():
    return render_template("web/embed.html", form=EmbedSubscribeForm(ticket=embed_ticket()), errors={})


@bp.post("/subscribe")
def subscribe():
    """The CSRF token is checked before this runs (`security.csrf` guards every POST
    not exempted), so the fields are read as posted; a form object is made only to
    show the form again."""
    take_subscribe_limit()
    return _subscribe(SubscribeForm, "web/subscribe.html")


@bp.post("/embed")
@csrf.exempt
def embed_subscribe():
    """The iframe's form posts here, so every answer, errors included, may be framed."""
    take_subscribe_limit()
    if not embed_post_is_ours(request.form.get("ticket")):
        form = EmbedSubscribeForm()
        form.ticket.data = embed_ticket()
        return _show_again(form, "web/embed.html", {"form": "The form expired. Please try again."})
    return _subscribe(EmbedSubscribeForm, "web/embed.html")


def _show_again(form, template: str, errors: dict[str, str]):
    return render_template(template, form=form, errors=errors), 400


def _subscribe(form_class: type[SubscribeForm], template: str):
    embed = template == "web/embed.html"
    posted = request.form
    if posted.get("website"):
        log.info("honeypot filled; dropping subscribe request")
        return render_template("web/check_inbox.html", embed=embed)
    settings = _settings()
    session = get_session()
    # The request is one statement (`subscriptions.record_request`), atomic by itself: run
    # outside a transaction it needs no BEGIN and no COMMIT round trip (the commit below
    # sends nothing), so three round trips to the database become one. The pool gives the
    # connection back to the next request with its usual isolation level.
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        chosen = "" if embed else chosen_categories(session)
    except categories.CategoryError as exc:
        return _show_again(form_class(), template, {"categories": str(exc)})
    try:
        subscriptions.record_request(
            session,
            posted.get("email") or "",
            posted.get("name") or "",
            _consent(),
            timedelta(hours=settings.confirm_mail_interval_hours),
            categories=chosen,
        )
    except InvalidSubscription as exc:
        session.rollback()
        return _show_again(form_class(), template, {exc.field: str(exc)})
    # No hint to publish: the outbox row is one, and the scheduler's relay hands it to a
    # worker within a fraction of a second (`workers.audience.start_relay`).
    session.commit()
    return render_template("web/check_inbox.html", embed=embed)


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    """Shows a button; only its POST confirms, so link scanners confirm nothing."""
    settings = _settings()
    try:
        can_confirm = subscriptions.check_confirm_link(
            get_session(), settings.secret_key, token, timedelta(hours=settings.confirm_token_max_age_hours)
        )
    except tokens.TokenError as exc:
        return _token_problem(exc)
    if not can_confirm:
        return render_template("web/confirmed.html", already=True)
    return render_template("web/confirm.html", form=ConfirmForm(), token=token)


@bp.post("/confirm/<token>")
def confirm(token: str):
    settings = _settings()
    session = get_session()
    try:
        subscriber = subscriptions.confirm(
            session,
            settings.secret_key,
            token,
            timedelta(hours=settings.confirm_token_max_age_hours),
            _consent(),
        )
    except tokens.TokenError as exc:
        session.rollback()
        return _token_problem(exc)
    _welcome(session, subscriber.id)
    session.commit()
    return render_template("web/confirmed.html", already=False)


def _welcome(session, subscriber_id: int) -> None:
    """The welcome's ledger row goes in with the confirmation; the task is only the hint."""
    if welcome.ask(session, subscriber_id):
        after_commit(send_welcome, subscriber_id)


def _token_problem(exc: tokens.TokenError):
    status = 410 if exc.reason in ("expired", "used") else 400
    return render_template("web/token_problem.html", reason=exc.reason, form=SubscribeForm(), errors={}), status


@bp.get("/unsubscribe/<int:subscriber_id>/<token>")
def unsubscribe_page(subscriber_id: int, token: str):
    """Never unsubscribes by itself: a GET may be a mail scanner."""
    subscriber = subscriptions.find_for_unsubscribe(get_session(), subscriber_id, token)
    if subscriber is None:
        abort(404)
    return render_template("web/unsubscribe.html", subscriber=subscriber)


@bp.post("/unsubscribe/<int:subscriber_id>/<token>")
@csrf.exempt
def unsubscribe(subscriber_id: int, token: str):
    """RFC 8058 one-click: no cookie, no CSRF token, 200 and no redirect.

    The body must say `List-Unsubscribe=One-Click` (urlencoded or multipart, as
    RFC 8058 has mail clients send it, and as the page's button does); the
    unguessable token in the URL is the authority.
    """
    if request.mimetype not in ONE_CLICK_TYPES or request.form.get("List-Unsubscribe") != "One-Click":
        return render_template("web/error.html", message="An unsubscribe request must say "
                               "List-Unsubscribe=One-Click. Use the button on the unsubscribe page."), 400
    session = get_session()
    subscriber = subscriptions.find_for_unsubscribe(session, subscriber_id, token)
    if subscriber is None:
        abort(404)
    subscriptions.unsubscribe(session, subscriber)
    session.commit()
    return render_template("web/unsubscribed.html", subscriber=subscriber, form=ConfirmForm(), token=token)


@bp.post("/resubscribe/<int:subscriber_id>/<token>")
def resubscribe(subscriber_id: int, token: str):
    """From the unsubscribed page: back at once, no second opt-in (see the service)."""
    session = get_session()
    subscriber = subscriptions.find_for_unsubscribe(session, subscriber_id, token)
    if subscriber is None:
        abort(404)
    if not ConfirmForm().validate():
        return render_template("web/error.html", message="The form expired. Please try again."), 400
    if subscriptions.resubscribe(session, subscriber, _consent()):
        _welcome(session, subscriber.id)
        session.commit()
        return render_template("web/confirmed.html", already=False, again=True)
    session.rollback()
    already = subscriber.status == SubscriberStatus.CONFIRMED
    return render_template("web/confirmed.html", already=already, again=False) if already else (
        render_template("web/error.html", message="This subscription cannot be restored from here: "
                        "subscribe again on the subscribe page and confirm the link we send."), 409)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask every page's host for it; a 404 in every log line helps no one."""
    response = current_app.response_class(FAVICON, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/preview-link/<any(unsubscribe, manage, 'web-version'):which>")
def preview_link(which: str):
    """Where a preview's or a test send's personal links lead: what they do for readers."""
    return render_template("web/preview_link.html", which=which)
