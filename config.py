"""Settings, all read from the environment (a .env file is honoured in development).

Every variable is listed in README.md. The three classes differ only in their
defaults; `create_app` picks one by name (SHARAKA_CONFIG / FLASK_ENV style).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import click

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("SHARAKA_INSTANCE_DIR") or BASE_DIR / "instance")  # set but empty: unset

# Marker so Production can tell a real secret from the development default.
DEV_SECRET_KEY = "dev-only-not-secret"


# What the environment says that cannot be read, each naming its variable: create_app refuses to start
# with them (a typo must not quietly mean "off", "0" or a language with no catalogue).
SETTING_PROBLEMS: list[str] = []
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
# No number setting goes past what a C int holds: socket timeouts, resource limits and the scheduler's
# intervals are handed to C, and timedelta(days=...) itself overflows past 999,999,999.
LARGEST_NUMBER = 2**31 - 1
# Durations: the most each may be, in its unit. A timedelta or date built from a larger one had overflowed at
# the first request or sign-in that used it (a 500 for each), long after the start had gone through.
HOUR_IN_SECONDS, DAY_IN_SECONDS, DAY_IN_MINUTES, WEEK_IN_MINUTES = 3600, 86400, 1440, 10080
MONTH_IN_HOURS, YEAR_IN_HOURS, YEAR_IN_DAYS = 30 * 24, 8760, 366
HSTS_LONGEST = 2 * 365 * DAY_IN_SECONDS  # two years, what browsers' preload lists ask for


class ConfigurationError(click.ClickException, RuntimeError):
    """Sharaka will not start with this setting (or installation); the message names the variable. A
    ClickException, so a `flask` command prints just the message and exits 2, not a page of traceback;
    wsgi.py hands it to gunicorn the same way."""

    exit_code = 2


def env(name: str, default=None):
    """A variable's value; unset, or set but empty (blank), it is `default`: every setting is read here,
    so that `NAME=` in an environment file never means "nothing" (no roles, no upload types, no key)."""
    value = os.environ.get(name)
    return value if value is not None and value.strip() else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        SETTING_PROBLEMS.append(f"{name}={value!r} is neither true nor false (write true or false).")
        return default
    return word in TRUE_WORDS


def env_int(name: str, default: int, minimum: int = 1, maximum: int = LARGEST_NUMBER) -> int:
    """A whole number from the environment, at least `minimum` (1 unless 0 means something) and at most
    `maximum` (never past LARGEST_NUMBER)."""
    value = env(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        SETTING_PROBLEMS.append(f"{name}={value!r} is not a whole number.")
        return default
    maximum = min(maximum, LARGEST_NUMBER)
    if not minimum <= number <= maximum:
        SETTING_PROBLEMS.append(f"{name}={number} is out of range (from {minimum} to {maximum}).")
        return default
    return number


def env_list(name: str, default: str = "") -> tuple[str, ...]:
    value = env(name)
    if value is None:
        value = default
    return tuple(part.strip() for part in value.split(",") if part.strip())


def env_networks(name: str) -> tuple:
    import ipaddress

    value = env(name) or ""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())
    except ValueError as error:
        SETTING_PROBLEMS.append(f"{name}: {error} (give comma-separated networks, e.g. 10.0.0.0/8).")
        return ()


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env(name) or "").strip().lower()
    if not value:
        return default
    if value not in choices:
        SETTING_PROBLEMS.append(f"{name}={value!r} is not one of {', '.join(choices)}.")
        return default
    return value


def env_address(name: str, default: str, is_address, example: str) -> str:
    """An address from the environment (`is_address` says whether it is one), or `default`."""
    value = (env(name) or "").strip()
    if not value:
        return default
    if not is_address(value):
        SETTING_PROBLEMS.append(f"{name}={value!r} is not {example}.")
        return default
    return value


def is_web_address(value: str) -> bool:
    """An absolute http:// or https:// address with a host (the app's, for links in e-mails)."""
    parts = urlsplit(value)
    try:
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port past 65535, or not a number
        return False


def is_mail_address(value: str) -> bool:
    """An e-mail address, with or without a display name ("Sharaka <sharaka@example.ma>")."""
    address = parseaddr(value)[1]
    # parseaddr takes what it can: "not an address" gives "not", "x@y z" gives "x@yz".
    return bool(re.fullmatch(r"[^@\s]+@[^@\s]+", address)) and address in value


def ascii_domain(value: str) -> str | None:
    """`value` as a mail domain written in ASCII, as Message-IDs and SMTP want it: a host name (IDNA: "وزارة.ma"
    is "xn--mgbexc3i.ma") or an address literal ("[10.0.0.7]", "[IPv6:::1]"); None when it cannot be one."""
    import ipaddress

    import idna

    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1]
        try:
            if inner[:5].lower() == "ipv6:":
                return f"[IPv6:{ipaddress.IPv6Address(inner[5:])}]"
            return f"[{ipaddress.IPv4Address(inner)}]"
        except ValueError:
            return None
    try:
        name = idna.encode(value, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None
    label = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    return name if len(name) <= 253 and re.fullmatch(rf"{label}(?:\.{label})*", name) else None


def is_mail_domain(value: str) -> bool:
    return ascii_domain(value) is not None


def env_rates(name: str) -> dict:
    """Reference exchange rates, "EUR=10.80,USD=9.25": dirhams for one unit of each ISO 4217 code."""
    from decimal import Decimal, InvalidOperation

    rates = {}
    for part in filter(None, (piece.strip() for piece in (env(name) or "").split(","))):
        code, _equals, value = (side.strip() for side in part.partition("="))
        try:
            rate = Decimal(value)
        except InvalidOperation:
            rate = Decimal(0)
        if not re.fullmatch(r"[A-Z]{3}", code) or not rate.is_finite() or rate <= 0 or rate > 10**6:
            SETTING_PROBLEMS.append(
                f"{name}: {part!r} is not CODE=RATE (a three-letter currency code in capitals and the dirhams "
                "one unit is worth, e.g. EUR=10.80)."
            )
            continue
        rates[code] = rate
    return rates


def mail_domain_for(url: str) -> str:
    """The domain of the From address and the Message-IDs of an app served at `url`: its host name, or an
    address literal ("[127.0.0.1]") when it is served at an IP address: "sharaka@127.0.0.1" is no address,
    and a strict relay refuses that sender."""
    import ipaddress

    host = urlsplit(url).hostname or "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


def ascii_url(url: str) -> str:
    """`url` with its host name in ASCII (IDNA: "https://شراكة.ma" -> "https://xn--....ma"): links in
    e-mail headers (List-Unsubscribe), Message-IDs and the From domain must be ASCII, and a header that
    is not is sent encoded, which mail clients do not read as a link."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or host.isascii():
        return url
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url  # not a name IDNA can write: left as given
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + ascii_host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class Config:
    SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL") or sqlite_url(INSTANCE_DIR / "sharaka.sqlite")
    # No pool_pre_ping: a connection idle for more than a second is checked on checkout instead
    # (app/extensions.py), not every connection of every request.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    UPLOAD_DIR = env("UPLOAD_DIR") or str(INSTANCE_DIR / "uploads")
    # Where stored files' bytes live: "folder" (UPLOAD_DIR) or "database" (shared by every web server).
    STORAGE = env("STORAGE", "folder").strip().lower() or "folder"
    MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_MB", 25) * 1024 * 1024
    # The whole request may carry a little more than one file (form fields, several files).
    MAX_CONTENT_LENGTH = MAX_UPLOAD_BYTES + 1024 * 1024
    WORKFLOWS_DIR = env("WORKFLOWS_DIR") or str(BASE_DIR / "workflows")
    # Checked from the file's content, never its name.
    ALLOWED_UPLOAD_TYPES = tuple(
        t.strip().upper()
        for t in env("ALLOWED_UPLOAD_TYPES", "PDF,DOCX,XLSX,PPTX,ODT,ODS,PNG,JPEG,ZIP").split(",")
        if t.strip()
    )

    # Bounds for every ZIP the server opens (Office and ODF files are ZIPs): a small upload
    # must never inflate to gigabytes in a worker.
    ZIP_MAX_MEMBERS = env_int("ZIP_MAX_MEMBERS", 2000)
    ZIP_MAX_MEMBER_BYTES = env_int("ZIP_MAX_MEMBER_MB", 100) * 1024 * 1024
    ZIP_MAX_TOTAL_BYTES = env_int("ZIP_MAX_TOTAL_MB", 250) * 1024 * 1024
    ZIP_MAX_RATIO = env_int("ZIP_MAX_RATIO", 100)

    # Bounds on reading a version's text for a comparison (app/versions/extract.py).
    EXTRACT_MAX_PAGES = env_int("EXTRACT_MAX_PAGES", 300)
    # Reading one version's text for a comparison: at most this long and this much memory (a child process).
    EXTRACT_SECONDS = env_int("EXTRACT_SECONDS", 15, maximum=HOUR_IN_SECONDS)
    EXTRACT_MEMORY_MB = env_int("EXTRACT_MEMORY_MB", 512)
    EXTRACT_MAX_PARAGRAPHS = env_int("EXTRACT_MAX_PARAGRAPHS", 20000)
    EXTRACT_MAX_CHARS = env_int("EXTRACT_MAX_CHARS", 2_000_000)
    EXTRACT_MAX_XML_BYTES = env_int("EXTRACT_MAX_XML_MB", 20) * 1024 * 1024
    # PEM files (separated by commas or the path separator) whose certificates the ministry
    # trusts as roots for the digital signatures of signed copies.
    SIGNATURE_TRUST_ROOTS = tuple(
        p.strip() for p in re.split(r"[,%s]" % re.escape(os.pathsep), env("SIGNATURE_TRUST_ROOTS", "")) if p.strip()
    )
    # Ask OCSP responders and CRL servers whether a signer's certificate was revoked.
    SIGNATURE_CHECK_REVOCATION = env_bool("SIGNATURE_CHECK_REVOCATION", True)

    # Absolute links in e-mails come from here, never from the request's Host header.
    BASE_URL = ascii_url(
        env_address(
            "BASE_URL",
            "http://127.0.0.1:5000",
            is_web_address,
            "an absolute http:// or https:// address (e.g. https://sharaka.example.ma)",
        )
    )
    # A drop-down of agreements, organisations, people or events lists every choice up to this many;
    # past it, only the chosen ones, and typing searches the rest (app/choices).
    CHOICES_LISTED = env_int("CHOICES_LISTED", 60)
    # Keep each session's rendered summaries and lists (dashboard, board, calendar, inbox, portal...)
    # while nothing they show has changed (app/auth/kept_pages.py): a reload is then served without
    # rendering. Off only to measure the rendering itself. DASHBOARD_PAGES_KEPT: its earlier name.
    PAGES_KEPT = (
        env_bool("PAGES_KEPT", True) if (env("PAGES_KEPT") or "").strip() else env_bool("DASHBOARD_PAGES_KEPT", True)
    )
    # Where they are kept, read by every worker of the machine; removable at any time (pages are drawn again).
    KEPT_PAGES_DIR = env("KEPT_PAGES_DIR") or str(INSTANCE_DIR / "kept-pages")
    # Keep figures over the whole portfolio (stage analytics) while the audit trail's version is
    # unchanged, shared by the readers who see the same portfolio (app/core/kept.py). Off only to
    # measure computing them.
    FIGURES_KEPT = env_bool("FIGURES_KEPT", True)
    # Empty is the default, as for every setting: references must not begin with a bare "-".
    AGREEMENT_REF_PREFIX = (env("AGREEMENT_REF_PREFIX") or "").strip() or "MTNRA"

    MAIL_SERVER = env("MAIL_SERVER", "")
    MAIL_PORT = env_int("MAIL_PORT", 25, maximum=65535)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
    if MAIL_USE_TLS and MAIL_USE_SSL:
        SETTING_PROBLEMS.append(
            "MAIL_USE_TLS and MAIL_USE_SSL are both on: choose one (MAIL_USE_SSL for port 465, MAIL_USE_TLS, "
            "StartTLS, for port 587)."
        )
    MAIL_USERNAME = env("MAIL_USERNAME", "")
    MAIL_PASSWORD = env("MAIL_PASSWORD", "")
    # The domain of the From address and of every Message-ID (default: BASE_URL's host name).
    MAIL_DOMAIN = ascii_domain(
        env_address(
            "MAIL_DOMAIN",
            "",
            is_mail_domain,
            "a domain name (e.g. ministere.ma) or an address literal (e.g. [10.0.0.7])",
        )
    ) or mail_domain_for(BASE_URL)
    MAIL_DEFAULT_SENDER = env_address(
        "MAIL_DEFAULT_SENDER",
        f"sharaka@{MAIL_DOMAIN}",
        is_mail_address,
        "an e-mail address (e.g. sharaka@example.ma or Sharaka <sharaka@example.ma>)",
    )
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 30, maximum=HOUR_IN_SECONDS)
    # The outbox sender (app/notifications/outbox.py): messages per claim, how long a
    # claim lasts before another sender may take it over, retries for a message the
    # server refused for now, and the pause after the server could not be reached.
    MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 50)
    MAIL_LEASE_SECONDS = env_int("MAIL_LEASE_SECONDS", 300, maximum=DAY_IN_SECONDS)
    MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 8)
    MAIL_RETRY_SECONDS = env_int("MAIL_RETRY_SECONDS", 60, minimum=0, maximum=DAY_IN_SECONDS)
    OUTBOX_INTERVAL_SECONDS = env_int("OUTBOX_INTERVAL_SECONDS", 30, maximum=DAY_IN_SECONDS)

    # The ministry's reference rates for the approval thresholds (app/budget/reckoning.py): "EUR=10.80,USD=9.25".
    BUDGET_RATES_TO_MAD = env_rates("BUDGET_RATES_TO_MAD")

    # Exports (CSV, XLSX): up to EXPORT_INLINE_MAX_ROWS rows written in the request, longer ones by the
    # scheduler (progress page, notification when ready), kept EXPORT_KEEP_HOURS.
    EXPORT_INLINE_MAX_ROWS = env_int("EXPORT_INLINE_MAX_ROWS", 2000, minimum=0)
    EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 1_000_000)
    EXPORT_KEEP_HOURS = env_int("EXPORT_KEEP_HOURS", 72, maximum=YEAR_IN_HOURS)
    EXPORT_LEASE_SECONDS = env_int("EXPORT_LEASE_SECONDS", 300, maximum=DAY_IN_SECONDS)
    EXPORT_MAX_WRITES = env_int("EXPORT_MAX_WRITES", 3)
    EXPORT_INTERVAL_SECONDS = env_int("EXPORT_INTERVAL_SECONDS", 5, maximum=DAY_IN_SECONDS)

    # Operations: /metrics is open to a bearer token or to these networks (comma-separated
    # CIDRs, e.g. "10.0.0.0/8"); neither set, it answers 404. Logs as JSON lines with "json".
    METRICS_TOKEN = env("METRICS_TOKEN", "")
    METRICS_ALLOW_NETWORKS = env_networks("METRICS_ALLOW_NETWORKS")
    # The reverse proxies in front of the app (comma-separated CIDRs, e.g. "10.0.0.10/32"): a request from
    # one of them is counted under the client it names in X-Forwarded-For (app/core/proxies.py).
    TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
    LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))

    # The language of a fresh install: visitors who chose none and whose browser asks for none
    # of ours, new accounts, mail to people without a language. Arabic unless DEFAULT_LANGUAGE says otherwise.
    LANGUAGES = ("ar", "fr", "en")
    BABEL_DEFAULT_LOCALE = env_choice(
        "DEFAULT_LANGUAGE", env_choice("BABEL_DEFAULT_LOCALE", "ar", LANGUAGES), LANGUAGES
    )
    # The ministry's wall clock: what "today" is for due dates, deadlines, jobs, feeds and mail, and the
    # zone times are shown in (app/core/clock.py). BABEL_DEFAULT_TIMEZONE is its older name.
    MINISTRY_TIMEZONE = env("MINISTRY_TIMEZONE") or env("BABEL_DEFAULT_TIMEZONE") or "Africa/Casablanca"
    BABEL_DEFAULT_TIMEZONE = MINISTRY_TIMEZONE

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    PERMANENT_SESSION_LIFETIME = env_int("SESSION_HOURS", 12, maximum=YEAR_IN_HOURS) * 3600
    # "Keep me signed in": how long the remember cookie (and its server-side session) lasts; browsers keep
    # a cookie 400 days at most (RFC 6265bis), so a longer setting would only be a promise not kept.
    REMEMBER_COOKIE_DURATION = timedelta(days=env_int("REMEMBER_DAYS", 14, maximum=400))
    # "Forgot your password?": how long a link lives, and requests per hour per account and per address.
    PASSWORD_RESET_MINUTES = env_int("PASSWORD_RESET_MINUTES", 30, maximum=DAY_IN_MINUTES)
    APPROVAL_LINK_HOURS = env_int("APPROVAL_LINK_HOURS", 72, maximum=MONTH_IN_HOURS)
    PASSWORD_RESET_MAX_PER_ACCOUNT = env_int("PASSWORD_RESET_MAX_PER_ACCOUNT", 3)
    PASSWORD_RESET_MAX_PER_ADDRESS = env_int("PASSWORD_RESET_MAX_PER_ADDRESS", 10)
    # Invitations by e-mail: how long the link lives (days).
    INVITATION_DAYS = env_int("INVITATION_DAYS", 7, maximum=YEAR_IN_DAYS)
    # A person's own new sign-in address: how long the link sent to it lives (hours).
    EMAIL_CHANGE_HOURS = env_int("EMAIL_CHANGE_HOURS", 24, maximum=MONTH_IN_HOURS)
    # Personal API tokens: the longest life their owner may give one (days); 0 also offers "no end date".
    API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=0, maximum=3650)
    # Two-factor sign-in (TOTP): roles that must enrol (comma-separated, e.g. "admin,manager");
    # the name authenticator apps show; wrong codes count as failed sign-ins (throttled alike).
    MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES")
    MFA_ISSUER = env("MFA_ISSUER", "Sharaka")
    MFA_RECOVERY_CODES = env_int("MFA_RECOVERY_CODES", 10)
    # Directory sign-in (LDAP / Active Directory) for ministry staff; off while LDAP_URL is empty.
    LDAP_URL = env("LDAP_URL", "").strip().rstrip("/")  # ldap://host:389/ (RFC 4516) is ldap://host:389
    LDAP_BASE_DN = env("LDAP_BASE_DN", "")
    # {login} is replaced by the escaped name typed on the sign-in page.
    LDAP_USER_FILTER = env("LDAP_USER_FILTER", "(&(objectClass=person)(|(uid={login})(mail={login})))")
    # A user entry must also match this filter to be active (AD: not disabled); empty: no check.
    LDAP_ACTIVE_FILTER = env("LDAP_ACTIVE_FILTER", "")
    LDAP_BIND_DN = env("LDAP_BIND_DN", "")
    LDAP_BIND_PASSWORD = env("LDAP_BIND_PASSWORD", "")
    # "role=group DN;role=group DN": the first group the user is a member of gives the role.
    LDAP_GROUP_ROLES = env("LDAP_GROUP_ROLES", "")
    LDAP_GROUP_BASE_DN = env("LDAP_GROUP_BASE_DN", "")
    LDAP_MAIL_ATTRIBUTE = env("LDAP_MAIL_ATTRIBUTE", "mail")
    LDAP_NAME_ATTRIBUTE = env("LDAP_NAME_ATTRIBUTE", "cn")
    LDAP_START_TLS = env_bool("LDAP_START_TLS", False)
    LDAP_CA_FILE = env("LDAP_CA_FILE", "")
    # The longest one sign-in waits on the directory, in all (under the web worker's 30 s timeout).
    LDAP_TIMEOUT_SECONDS = env_int("LDAP_TIMEOUT_SECONDS", 5, maximum=20)
    # How often the scheduler looks directory-linked accounts up again (leavers who never sign in again).
    DIRECTORY_SWEEP_MINUTES = env_int("DIRECTORY_SWEEP_MINUTES", 15, maximum=WEEK_IN_MINUTES)
    # With LDAP on, local accounts (not directory-linked) of these roles may still sign in with a
    # local password: partners and break-glass administrators.
    LDAP_LOCAL_ROLES = env_list("LDAP_LOCAL_ROLES", "partner,admin")
    # Where directory users change or recover their password (shown instead of a reset link).
    LDAP_PASSWORD_HELP = env("LDAP_PASSWORD_HELP", "")
    # Strict-Transport-Security max-age; 0 sends no header (production defaults to a year).
    HSTS_SECONDS = env_int("HSTS_SECONDS", 0, minimum=0, maximum=HSTS_LONGEST)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead, so a long form is not lost

    # Sign-in throttling: failures counted per account and per address in a window.
    LOGIN_WINDOW_MINUTES = env_int("LOGIN_WINDOW_MINUTES", 15, maximum=DAY_IN_MINUTES)
    LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
    LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
    # Failures on one account from all addresses before only its known addresses may still try.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES", 50)

    PER_PAGE = env_int("PER_PAGE", 20)
    # A pending deliverable shows as "due" this many days before its due date.
    DELIVERABLE_DUE_WINDOW_DAYS = env_int("DELIVERABLE_DUE_WINDOW_DAYS", 14, maximum=YEAR_IN_DAYS)
    SHOW_DEMO_PASSWORDS = False


class DevelopmentConfig(Config):
    DEBUG = env_bool("FLASK_DEBUG", False)
    SHOW_DEMO_PASSWORDS = True


class TestingConfig(Config):
    TESTING = True
    # The test suite sets the real database (a temporary SQLite file, or a fresh
    # PostgreSQL database) before creating the app; see tests/conftest.py.
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # Cheap scrypt parameters (0.7 ms a hash against 14 ms at 4096): the suite hashes thousands of passwords,
    # a dozen for each test's people, and it is still scrypt, read by the same check.
    PASSWORD_HASH_METHOD = "scrypt:256:8:1"
    SERVER_NAME = None
    BASE_URL = "http://sharaka.test"
    SIGNATURE_CHECK_REVOCATION = False  # tests never reach the network
    MAIL_DOMAIN = "sharaka.test"
    MAIL_DEFAULT_SENDER = "sharaka@sharaka.test"
    # Factories write rows without the audit trail the app's changes leave, which a kept dashboard's
    # version reads: every page is rendered, but where a test asks for production's setting.
    PAGES_KEPT = False
    FIGURES_KEPT = False


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * DAY_IN_SECONDS, minimum=0, maximum=HSTS_LONGEST)

    @classmethod
    def check(cls) -> None:
        """Refuse to start when sessions could be forged or the debugger could run code."""
        problems = []
        if env_bool("FLASK_DEBUG", False):
            problems.append("FLASK_DEBUG is on: the debugger runs any code a visitor sends. Unset FLASK_DEBUG.")
        weakness = secret_key_weakness(env("SECRET_KEY", ""))
        if weakness:
            problems.append(
                f"SECRET_KEY {weakness}. Make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if problems:
            raise ConfigurationError("Sharaka will not start in production: " + " ".join(problems))


def secret_key_weakness(key: str) -> str | None:
    """Why `key` cannot sign sessions and CSRF tokens, or None. The guess count comes from zxcvbn,
    which sees through repeats, keyboard runs and dictionary words; 10^31 guesses is about
    103 bits, what a random 32-character hex string gives."""
    if not key or key == DEV_SECRET_KEY:
        return "is not set"
    if len(key) < 32:
        return "is shorter than 32 characters"
    if any(word in key.lower().replace("_", "-") for word in ("change-me", "changeme", "replace-me", "example")):
        # Long enough to pass the guess count, and printed in the repository for anyone to read.
        return "is the example file's placeholder"
    from zxcvbn import zxcvbn

    if zxcvbn(key[:72])["guesses_log10"] < 31:
        return "is guessable (repeats, sequences or words rather than random characters)"
    return None


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
