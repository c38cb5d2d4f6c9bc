"""Importing a subscriber CSV from the editor area: upload, then watch it run.

The request only stores the file with what the editor stated about consent and
hands the import to a worker (`workers.audience.import_subscribers`); the page it
redirects to follows the import's row in the database, so a large file never
holds a request open and the progress survives a reload.
"""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from workers.audience import import_subscribers

from ...audience.importing import MAX_SOURCE
from ...audience.models import ImportStatus, SubscriberImport
from ..context import get_session
from ..jobs import after_commit
from .auth import current_editor, editor_required
from .common import bp

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def _form_error(message: str, status: int = 400):
    return render_template("web/editor/import.html", error=message, form=request.form, recent=[]), status


@bp.get("/subscribers/import")
@editor_required
def import_form():
    recent = get_session().scalars(select(SubscriberImport).order_by(SubscriberImport.id.desc()).limit(10)).all()
    return render_template("web/editor/import.html", error="", form={}, recent=recent)


@bp.post("/subscribers/import")
@editor_required
def upload_import():
    request.max_content_length = MAX_UPLOAD_BYTES
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _form_error("Choose a CSV file to import.")
    data = upload.read()
    if not data.strip():
        return _form_error("That file is empty.")
    opted_in = request.form.get("opted_in") == "yes"
    source = request.form.get("consent_source", "").strip()
    if opted_in and not source:
        return _form_error("Say where and how these people opted in; it is recorded with each of them.")
    if source and not opted_in:
        return _form_error("Tick the box to state that these people opted in, or leave the source empty.")
    if len(source) > MAX_SOURCE or any(ord(ch) < 32 for ch in source):
        return _form_error(f"The consent source is one line of at most {MAX_SOURCE} characters.")
    session = get_session()
    record = SubscriberImport(filename=upload.filename[:255], imported_by=current_editor().email,
                              consent_source=source if opted_in else "", status=ImportStatus.QUEUED, data=data)
    session.add(record)
    session.flush()
    after_commit(import_subscribers, record.id)
    session.commit()
    return redirect(url_for("editor.import_progress", import_id=record.id))


def _record(import_id: int) -> SubscriberImport:
    return get_session().get(SubscriberImport, import_id) or abort(404)


def progress_of(record: SubscriberImport) -> dict:
    return {
        "id": record.id, "status": record.status, "total_rows": record.total_rows, "done_rows": record.done_rows,
        "created": record.created, "merged": record.merged, "duplicates": record.duplicates,
        "rejected": record.rejected, "finished": record.status in ImportStatus.FINISHED,
        "report": record.report.splitlines() if record.status in ImportStatus.FINISHED else [],
    }


@bp.get("/subscribers/imports/<int:import_id>")
@editor_required
def import_progress(import_id: int):
    record = _record(import_id)
    return render_template("web/editor/import_progress.html", record=record, progress=progress_of(record))


@bp.get("/subscribers/imports/<int:import_id>.json")
@editor_required
def import_progress_json(import_id: int):
    response = jsonify(progress_of(_record(import_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(413)
def _too_large(_error):
    flash(f"That file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.", "error")
    return redirect(url_for("editor.import_form"))
