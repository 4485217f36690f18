"""The blueprints of issue #17b's features (version comparison, signature checks, indicators), in one list."""

from __future__ import annotations


def blueprints() -> tuple:
    from app.indicators.routes import blueprint as indicators_bp
    from app.signatures.routes import blueprint as signatures_bp
    from app.versions.routes import blueprint as versions_bp

    return versions_bp, signatures_bp, indicators_bp
