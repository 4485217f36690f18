"""Sharaka: partnership agreements from first draft to a living partnership."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from config import CONFIGS, INSTANCE_DIR, SETTING_PROBLEMS, ConfigurationError, ProductionConfig, env

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: str | type | None = None) -> Flask:
    """Build the app. Importing or creating it never migrates or seeds the database."""
    config_class = _resolve_config(config)
    if SETTING_PROBLEMS:
        raise ConfigurationError("Sharaka will not start: " + " ".join(dict.fromkeys(SETTING_PROBLEMS)))
    if config_class is ProductionConfig or issubclass(config_class, ProductionConfig):
        ProductionConfig.check()

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(INSTANCE_DIR),
        instance_relative_config=False,
    )
    app.config.from_object(config_class)
    _check_time_zone(app)
    _check_named_values(app)
    _check_catalogues(app, strict=issubclass(config_class, ProductionConfig))
    _check_trust_roots(app)
    if issubclass(config_class, ProductionConfig):
        _check_base_url(app)
    _make_instance_folder(app)
    _check_kept_pages_folder(app)

    _init_extensions(app)
    _init_operations(app)
    _load_workflows(app)
    from app.core.urls import IdConverter

    app.url_map.converters["int"] = IdConverter  # before the routes are added: each binds its converter then
    _register_blueprints(app)
    # The features that write guards and effects the definitions name (app/workflow/rules.py) register
    # them when imported: each must then have its function.
    from app.agreements import amendments  # noqa: F401
    from app.deliverables import services as deliverable_services  # noqa: F401
    from app.workflow.rules import check_registered

    check_registered()

    from app.api.blueprints import init_api

    init_api(app)
    from app.api.core import API_PREFIX
    from app.core import receipts

    receipts.register_receipts(app, API_PREFIX)  # after the API's authentication: a repeat is known by its user

    # After the API: flask-smorest registers its own HTTP error handler, ours answers instead.
    from app.core.error_handlers import register_error_handlers
    from app.core.templating import register_template_helpers

    register_error_handlers(app)
    register_template_helpers(app)
    from app.core.transport import read_as_utf8

    read_as_utf8(app)
    from app.core.db import runs_again_as_writer
    from app.core.proxies import trust_proxies

    runs_again_as_writer(app)  # innermost: inside the proxy's reading of the client
    trust_proxies(app)

    from app.cli import register_cli

    register_cli(app)

    from app.core.db import register_unit_of_work

    # Last, so it commits before the other after-request hooks see the answer.
    register_unit_of_work(
        app, before_commit=receipts.keep_receipt, answer_after_refusal=receipts.answer_of_earlier_send
    )
    return app


def _check_base_url(app: Flask) -> None:
    """Production without BASE_URL starts (a first look at a server), but every link mailed would lead to this
    machine's own address, 127.0.0.1: said as the server starts, not found by the first person who clicks."""
    if not os.environ.get("BASE_URL", "").strip():
        app.logger.warning(
            "BASE_URL is not set: the links in mail lead to %s. Set it to the address people open Sharaka at.",
            app.config["BASE_URL"],
        )


def _check_trust_roots(app: Flask) -> None:
    """A SIGNATURE_TRUST_ROOTS file that is not there to read is said as the server starts, not at the first
    signed copy checked (a warning, not a refusal: signatures then read "untrusted", and the rest works)."""
    from app.signatures.validate import missing_trust_roots, report_trust_root_problems

    report_trust_root_problems(missing_trust_roots(app.config["SIGNATURE_TRUST_ROOTS"]))


def _check_catalogues(app: Flask, *, strict: bool, folder: Path = Path(__file__).parent / "translations") -> None:
    """The compiled word lists (messages.mo, built from the .po files by `make translations-compile`, not
    kept in git) of every language offered, and not older than their source. Without them every page and
    e-mail goes out in English under an Arabic or French heading, and nothing else says so: production
    refuses to start, naming the command; elsewhere the log says it."""
    missing = []
    for language in app.config["LANGUAGES"]:
        source = folder / language / "LC_MESSAGES" / "messages.po"
        compiled = source.with_suffix(".mo")
        if source.exists() and (not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime):
            missing.append(language)
    if not missing:
        return
    said = (
        f"the translations of {', '.join(missing)} are not compiled, or older than their source: run "
        "`pybabel compile -d app/translations` (make translations-compile)"
    )
    if strict:
        raise ConfigurationError(said)
    app.logger.warning(said)


def _make_instance_folder(app: Flask) -> None:
    try:
        os.makedirs(app.instance_path, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"SHARAKA_INSTANCE_DIR={app.instance_path!r}: the folder cannot be made ({error.strerror})."
        ) from None


def _check_kept_pages_folder(app: Flask) -> None:
    from app.core.machine_store import folder_problem

    if problem := folder_problem(app.config):
        raise ConfigurationError("Sharaka will not start: " + problem)


def _check_time_zone(app: Flask) -> None:
    """Refuse to start on a time zone nobody can read, naming it, rather than fail on the first page."""
    from zoneinfo import ZoneInfoNotFoundError

    from app.core.clock import zone_named

    name = app.config["MINISTRY_TIMEZONE"]
    try:
        zone_named(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigurationError(
            f"MINISTRY_TIMEZONE={name!r} is not a time zone name such as Africa/Casablanca"
        ) from error
    app.config["BABEL_DEFAULT_TIMEZONE"] = name


def _check_named_values(app: Flask) -> None:
    """Refuse to start on a role or file type nobody has, naming it: MFA_REQUIRED_ROLES=admn had started and
    asked nobody for a second factor (a typo must never quietly mean "off")."""
    from app.core.permissions import ALL_ROLES
    from app.core.storage import FILE_TYPES

    problems = []
    for name in ("MFA_REQUIRED_ROLES", "LDAP_LOCAL_ROLES"):
        if unknown := [role for role in app.config.get(name, ()) if role not in ALL_ROLES]:
            problems.append(f"{name} names {', '.join(unknown)}: the roles are {', '.join(sorted(ALL_ROLES))}.")
    if unknown := [kind for kind in app.config.get("ALLOWED_UPLOAD_TYPES", ()) if kind not in FILE_TYPES]:
        problems.append(f"ALLOWED_UPLOAD_TYPES names {', '.join(unknown)}: the types are {', '.join(FILE_TYPES)}.")
    problems += _directory_problems(app.config)
    if problems:
        raise ConfigurationError("Sharaka will not start: " + " ".join(problems))


def _directory_problems(config) -> list[str]:
    """The directory settings a sign-in would trip on, said at the start: a role misspelt in LDAP_GROUP_ROLES
    had locked out (and deactivated) that whole role; a CA file not there, or two servers in LDAP_URL, had
    answered 500 to every directory sign-in."""
    from app.core.permissions import MINISTRY_ROLES

    if not config.get("LDAP_URL"):
        return []
    problems = []
    url = config["LDAP_URL"]
    if not url.lower().startswith(("ldap://", "ldaps://")) or any(sign in url for sign in " ,;"):
        problems.append(f"LDAP_URL={url!r} is not one ldap:// or ldaps:// address (one server).")
    if not config.get("LDAP_GROUP_ROLES", "").strip():
        problems.append(
            "LDAP_GROUP_ROLES is empty: with LDAP_URL set, nobody would be let in, and each would be closed."
        )
    for item in filter(None, (part.strip() for part in config.get("LDAP_GROUP_ROLES", "").split(";"))):
        role, sign, dn = item.partition("=")
        if not sign or not dn.strip():
            problems.append(f"LDAP_GROUP_ROLES item {item!r} is not role=group DN.")
        elif role.strip() not in MINISTRY_ROLES:
            roles = ", ".join(sorted(MINISTRY_ROLES))
            problems.append(f"LDAP_GROUP_ROLES names {role.strip()!r}: the ministry's roles are {roles}.")
    if (ca_file := config.get("LDAP_CA_FILE")) and not os.access(ca_file, os.R_OK):
        problems.append(f"LDAP_CA_FILE={ca_file!r} cannot be read.")
    user_filter = config.get("LDAP_USER_FILTER", "")
    if "{login}" not in user_filter or user_filter.count("(") != user_filter.count(")"):
        problems.append(f"LDAP_USER_FILTER={user_filter!r} must hold {{login}} and balanced parentheses.")
    if not config.get("LDAP_BASE_DN"):
        problems.append("LDAP_BASE_DN is needed with LDAP_URL.")
    return problems


def _resolve_config(config):
    if config is None:
        config = env("SHARAKA_CONFIG", "development")
    if isinstance(config, str):
        try:
            return CONFIGS[config]
        except KeyError:
            raise ConfigurationError(f"unknown SHARAKA_CONFIG {config!r}; use one of {sorted(CONFIGS)}") from None
    return config


def _check_database_url(url: str) -> None:
    """Refuse, naming DATABASE_URL, a URL SQLAlchemy cannot read or whose driver is not installed, rather than
    show SQLAlchemy's traceback (whose message may spell the URL, password and all)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "DATABASE_URL is not a database URL such as postgresql+psycopg://user@host:5432/sharaka "
            "or sqlite:////path/to/sharaka.sqlite."
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as error:
        raise ConfigurationError(
            f"DATABASE_URL ({shown}) names a database or driver that is not installed ({error}); "
            "PostgreSQL is postgresql+psycopg://…"
        ) from None


def _init_extensions(app: Flask) -> None:
    from app.core.i18n import remember_language, select_locale
    from app.extensions import babel, csrf, db, login_manager, migrate

    _check_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories=str(Path(__file__).parent / "translations")
    )
    app.after_request(remember_language)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    # Import every model so metadata is complete for Alembic and relationships resolve.
    from app import models  # noqa: F401
    from app.auth.sessions import load_user

    login_manager.user_loader(load_user)

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please sign in to see this page.")


def _init_operations(app: Flask) -> None:
    """Request ids and logs, request metrics, and a storage setting checked now rather than at the first upload."""
    from app.core.logs import init_request_logging
    from app.core.metrics import init_request_metrics, multiprocess_folder_problem
    from app.core.storage_backends import make_backend

    make_backend(app.config["STORAGE"], app.config["UPLOAD_DIR"])
    init_request_logging(app)
    if problem := multiprocess_folder_problem():
        raise ConfigurationError(problem)
    init_request_metrics(app)


def _load_workflows(app: Flask) -> None:
    """Validate every workflow definition now: a broken file stops the app from starting."""
    from app.workflow.definitions import DefinitionError, load_workflows

    directory = app.config["WORKFLOWS_DIR"]
    try:
        app.extensions["sharaka.workflows"] = load_workflows(Path(directory))
    except DefinitionError as error:
        raise ConfigurationError(f"WORKFLOWS_DIR={directory!r}: {error}") from None


def _register_blueprints(app: Flask) -> None:
    from app.admin.routes import blueprint as admin_bp
    from app.agreements.routes import blueprint as agreements_bp
    from app.api.pages import blueprint as api_pages_bp
    from app.audit.routes import blueprint as audit_bp
    from app.auth import account_routes, member_routes  # noqa: F401 (their pages are on the auth blueprint)
    from app.auth.routes import blueprint as auth_bp
    from app.budget.routes import blueprint as budget_bp
    from app.choices.routes import blueprint as choices_bp
    from app.collaboration import blueprints as collaboration_blueprints
    from app.deliverables.routes import blueprint as deliverables_bp
    from app.deliverables.services import release_owed_on_end
    from app.discussions.by_mail import blueprint as by_mail_bp
    from app.discussions.routes import blueprint as discussions_bp
    from app.discussions.verify import blueprint as verify_bp
    from app.events.routes import blueprint as events_bp
    from app.exports.routes import blueprint as exports_bp
    from app.main_routes import blueprint as main_bp
    from app.notifications.events import connect_receivers
    from app.notifications.routes import blueprint as notifications_bp
    from app.operations.routes import blueprint as operations_bp
    from app.organizations.routes import blueprint as organizations_bp
    from app.reporting.dashboards.routes import blueprint as dashboards_bp
    from app.reporting.portfolio.routes import blueprint as portfolio_bp
    from app.search.routes import blueprint as search_bp
    from app.workflow import draft_routes  # noqa: F401 (its page forms are on the workflow blueprint)
    from app.workflow.engine import agreement_moved
    from app.workflow.routes import blueprint as workflow_bp
    from app.workflow.simulator_routes import blueprint as workflow_simulator_bp

    for blueprint in (
        main_bp,
        auth_bp,
        agreements_bp,
        organizations_bp,
        events_bp,
        admin_bp,
        workflow_bp,
        deliverables_bp,
        notifications_bp,
        api_pages_bp,
        dashboards_bp,
        portfolio_bp,
        audit_bp,
        operations_bp,
        exports_bp,
        budget_bp,
        *collaboration_blueprints(),
        discussions_bp,
        by_mail_bp,
        verify_bp,
        workflow_simulator_bp,
        search_bp,
        choices_bp,
    ):
        app.register_blueprint(blueprint)
    connect_receivers(app)
    # What an agreement still owed is released when it ends, in the same transaction as the move.
    agreement_moved.connect(release_owed_on_end, weak=False)
