"""Discussion threads: post, edit (earlier text kept), mentions and new messages notified, attachments
stored under the storage rules. Nothing is deleted; every post and edit writes an audit row. Services flush;
the request commits once."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.auth.models import User, normalize_email
from app.core import audit, storage
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import names_listed
from app.core.models import utcnow
from app.core.permissions import (
    can_edit_message,
    can_mention,
    can_post_in_thread,
    can_read_thread,
    partner_accounts_clause,
)
from app.core.text import MENTION, trimmed
from app.discussions.models import (
    AUDIENCES,
    DiscussionAttachment,
    DiscussionMention,
    DiscussionMessage,
    DiscussionRevision,
)
from app.extensions import db

MAX_BODY = 10_000
MAX_ATTACHMENTS = 5
MAX_OFFERED = 300  # people listed under the message box (anyone allowed can still be typed)


def thread_messages(agreement, occurrence, audience: str) -> list[DiscussionMessage]:
    """A thread, oldest first, with what the page shows of each message loaded in a few queries."""
    query = (
        select(DiscussionMessage)
        .where(
            DiscussionMessage.agreement_id == agreement.id,
            DiscussionMessage.audience == audience,
            _occurrence_clause(occurrence),
        )
        .options(
            selectinload(DiscussionMessage.attachments),
            selectinload(DiscussionMessage.revisions),
            selectinload(DiscussionMessage.mentions).joinedload(DiscussionMention.user),
        )
        .order_by(DiscussionMessage.created_at, DiscussionMessage.id)
    )
    return list(db.session.scalars(query))


def _occurrence_clause(occurrence):
    if occurrence is None:
        return DiscussionMessage.occurrence_id.is_(None)
    return DiscussionMessage.occurrence_id == occurrence.id


def thread_author_ids(agreement, occurrence, audience: str) -> set[int]:
    return set(
        db.session.scalars(
            select(DiscussionMessage.author_id)
            .distinct()
            .where(
                DiscussionMessage.agreement_id == agreement.id,
                DiscussionMessage.audience == audience,
                _occurrence_clause(occurrence),
                DiscussionMessage.author_id.is_not(None),
            )
        )
    )


def mentionable_people(agreement, occurrence, audience: str, author) -> list[User]:
    """The people `author` may @mention in this thread (offered under the message box)."""
    known = thread_author_ids(agreement, occurrence, audience)
    # The SQL only narrows the candidates (the thread's organisations); can_mention decides.
    organizations = [party.organization_id for party in agreement.parties] if audience == "shared" else []
    candidates = db.session.scalars(
        select(User)
        .where(
            User.is_active_account.is_(True),
            User.id != author.id,
            or_(~partner_accounts_clause(), User.organization_id.in_(organizations)),
        )
        .order_by(User.full_name)
        .limit(MAX_OFFERED)
    )
    of_deliverable = occurrence is not None
    return [
        person
        for person in candidates
        if can_mention(author, person, agreement, audience, known, of_deliverable=of_deliverable)
    ]


def _resolve_mentions(body: str, agreement, occurrence, audience: str, author) -> list[User]:
    addresses = list(dict.fromkeys(normalize_email(match) for match in MENTION.findall(body)))
    if not addresses:
        return []
    known = thread_author_ids(agreement, occurrence, audience)
    people = {person.email: person for person in db.session.scalars(select(User).where(User.email.in_(addresses)))}
    refused = [
        address
        for address in addresses
        if not can_mention(
            author, people.get(address), agreement, audience, known, of_deliverable=occurrence is not None
        )
    ]
    if refused:
        # The same words whether the account does not exist or may not be told: nothing leaks.
        message = _(
            "No one you can mention here answers to %(names)s. Remove the mention or check the address.",
            names=names_listed(f"@{address}" for address in refused),
        )
        raise ValidationFailed(message, {"body": [message]})
    return [people[address] for address in addresses if people[address].id != author.id]


def _clean_body(body: str | None) -> str:
    body = trimmed((body or "").replace("\r\n", "\n"))
    if not body:
        message = _("Write a message first.")
        raise ValidationFailed(message, {"body": [message]})
    if len(body) > MAX_BODY:
        message = _("A message can be at most %(num)s characters long.", num=MAX_BODY)
        raise ValidationFailed(message, {"body": [message]})
    return body


def require_posting(agreement, occurrence, audience: str, user) -> None:
    """Whether `user` may write in this thread, else the refusal (the API asks before it reads the call's
    body, so that someone else is refused whatever they sent)."""
    if audience not in AUDIENCES:
        raise ValidationFailed(_("Unknown thread."))
    if not can_post_in_thread(user, agreement, audience, of_deliverable=occurrence is not None):
        raise PermissionDenied(_("You cannot write in this thread."))


def post_message(agreement, *, occurrence=None, audience: str, body: str | None, uploads=(), by) -> DiscussionMessage:
    """Add a message to a thread; notify the people it mentions; store its attachments."""
    require_posting(agreement, occurrence, audience, by)
    body = _clean_body(body)
    mentioned = _resolve_mentions(body, agreement, occurrence, audience, by)
    uploads = storage.chosen_files(uploads)
    if len(uploads) > MAX_ATTACHMENTS:
        message = _("At most %(num)s files per message.", num=MAX_ATTACHMENTS)
        raise ValidationFailed(message, {"files": [message]})
    message = DiscussionMessage(
        agreement_id=agreement.id,
        occurrence_id=occurrence.id if occurrence else None,
        audience=audience,
        author_id=by.id,
        body=body,
        created_at=utcnow(),
    )
    db.session.add(message)
    for upload, stored in storage.store_each(uploads, field="files"):
        name = storage.clean_filename(upload.filename, "attachment", stored.content_type)
        message.attachments.append(DiscussionAttachment(stored_file_id=stored.id, original_name=name))
    for person in mentioned:
        message.mentions.append(DiscussionMention(user_id=person.id))
    db.session.flush()
    audit.record(
        "discussion_posted",
        message,
        actor=by,
        changes={
            "agreement_id": agreement.id,
            "occurrence_id": message.occurrence_id,
            "audience": audience,
            "mentions": [p.email for p in mentioned],
            "files": [a.original_name for a in message.attachments],
        },
    )
    _notify_mentioned(message, agreement, occurrence, mentioned, by)
    _notify_taking_part(message, agreement, occurrence, mentioned, by)
    return message


def edit_message(message: DiscussionMessage, *, body: str | None, by, agreement, occurrence=None) -> DiscussionMessage:
    """Change a message's text; the earlier text is kept and the message shows as edited."""
    if not can_edit_message(by, message):
        raise PermissionDenied(_("Only the author of a message can edit it."))
    body = _clean_body(body)
    if body == message.body:
        return message
    mentioned = _resolve_mentions(body, agreement, occurrence, message.audience, by)
    already = {mention.user_id for mention in message.mentions}
    message.revisions.append(DiscussionRevision(body=message.body, written_at=message.edited_at or message.created_at))
    before, message.body, message.edited_at = message.body, body, utcnow()
    new_people = [person for person in mentioned if person.id not in already]
    for person in new_people:
        message.mentions.append(DiscussionMention(user_id=person.id))
    db.session.flush()
    audit.record("discussion_edited", message, actor=by, changes={"before": {"body": before}, "after": {"body": body}})
    _notify_mentioned(message, agreement, occurrence, new_people, by)
    return message


def _notify_mentioned(message, agreement, occurrence, people, by) -> None:
    _notify(people, "discussion_mention", "discussion_mention", message, agreement, occurrence, by)


def _notify_taking_part(message, agreement, occurrence, mentioned, by) -> None:
    """Tell those taking part in the thread of a new message in it: the agreement's owner and whoever wrote
    in it before, while they may still read it. A partner's question answered in the shared thread had
    reached nobody unless the answer @mentioned them. Those the message mentions are told by the mention;
    one who switched mention mail off but takes this mail gets this mail still (the bell has the mention):
    an owner who kept "new messages" had no mail at all of a message naming her. The author is not told
    of their own message."""
    from app.notifications.services import wants_mail

    ids = (thread_author_ids(agreement, occurrence, message.audience) | {agreement.owner_id}) - {by.id, None}
    if not ids:
        return
    people = db.session.scalars(select(User).where(User.id.in_(sorted(ids))).order_by(User.id))
    readers = [
        person
        for person in people
        if can_read_thread(person, agreement, message.audience, of_deliverable=occurrence is not None)
    ]
    named = {person.id for person in mentioned}
    _notify(
        [person for person in readers if person.id not in named],
        "discussion_message",
        "discussion_activity",
        message,
        agreement,
        occurrence,
        by,
    )
    mailed_instead = [
        person
        for person in readers
        if person.id in named
        and not wants_mail(person, "discussion_mention")
        and wants_mail(person, "discussion_activity")
    ]
    _notify(
        mailed_instead, "discussion_message", "discussion_activity", message, agreement, occurrence, by, mail_only=True
    )


def _notify(people, kind: str, category: str, message, agreement, occurrence, by, mail_only: bool = False) -> None:
    """Tell `people` of `message`: in the bell and by mail as each chose, or with `mail_only` by mail alone."""
    from app.notifications.reminders import agreement_params, texts
    from app.notifications.services import Notice, notify, queue_mail

    if not people:
        return
    params = {**agreement_params(agreement), "by": by.full_name, "excerpt": " ".join(message.body.split())[:280]}
    if by.organization is not None:
        # The name a person gives themselves is theirs to choose: their organisation says whose side they speak
        # for, in the mail and the bell as in the thread.
        params["by_organization"] = texts(by.organization, "name")
    if occurrence is not None:
        params["deliverable"] = texts(occurrence.deliverable, "title")
    link = thread_path(agreement, occurrence, message.audience) + f"#message-{message.id}"
    for person in people:
        (queue_mail if mail_only else notify)(
            person,
            Notice(
                kind=kind,
                category=category,
                params=params,
                link=link,
                object_type="discussion_messages",
                object_id=message.id,
            ),
        )


def thread_path(agreement, occurrence, audience: str) -> str:
    from app.notifications.services import app_path

    if occurrence is not None:
        return app_path("deliverables.view_occurrence", occurrence_id=occurrence.id, thread=audience)
    return app_path("agreements.view_agreement", agreement_id=agreement.id, thread=audience)


def message_counts(agreement, occurrence, audiences) -> dict[str, int]:
    rows = db.session.execute(
        select(DiscussionMessage.audience, func.count())
        .where(
            DiscussionMessage.agreement_id == agreement.id,
            _occurrence_clause(occurrence),
            DiscussionMessage.audience.in_(list(audiences)),
        )
        .group_by(DiscussionMessage.audience)
    )
    return {audience: count for audience, count in rows}


def upload_limit_mb() -> int:
    limit = current_app.config.get("MAX_UPLOAD_BYTES") or current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return limit // (1024 * 1024)
