"""The workflow simulator page (/admin/workflows/simulate): a definition (shipped, or an edited
copy pasted or uploaded) and a scenario in, the walk out. Nothing is written."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.file import FileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional

from app.core.forms import Form
from app.core.i18n import gettext as _
from app.core.permissions import require
from app.extensions import db
from app.workflow import engine, simulator
from app.workflow.definitions import DefinitionError

blueprint = Blueprint("workflow_simulator", __name__)
MAX_TEXT = 200_000
EXAMPLE = Path(__file__).resolve().parents[2] / "workflows" / "scenarios" / "mou-short-term.yaml"


class SimulateForm(Form):
    workflow_type = SelectField(_l("Workflow"), choices=[], validate_choice=True)
    definition = TextAreaField(_l("Edited definition (YAML, optional)"), validators=[Optional(), Length(max=MAX_TEXT)])
    # A label of its own: "…or upload it" leaned on the field after it, and in Arabic its ellipsis led the line.
    definition_file = FileField(_l("Or upload an edited definition (YAML file)"))
    scenario = TextAreaField(_l("Scenario (YAML, optional)"), validators=[Optional(), Length(max=MAX_TEXT)])


def _read_upload(upload) -> str | None:
    if upload is None or not getattr(upload, "filename", ""):
        return None
    data = upload.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:
        raise simulator.ScenarioError(_("The uploaded definition is too long (at most 200,000 characters)."))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise simulator.ScenarioError(_("The uploaded definition is not UTF-8 text.")) from None


@blueprint.route("/admin/workflows/simulate", methods=["GET", "POST"])
@login_required
def simulate_workflow():
    require(current_user, "workflow.simulate")
    definitions = engine.current_definitions()
    form = SimulateForm()
    form.workflow_type.choices = [(name, engine.label(d.label)) for name, d in sorted(definitions.items())]
    if not form.is_submitted():
        form.scenario.data = EXAMPLE.read_text(encoding="utf-8") if EXAMPLE.exists() else ""
        form.workflow_type.data = "mou" if "mou" in definitions else None
    result, problems, edited = None, [], False
    if form.validate_on_submit():
        try:
            text = _read_upload(form.definition_file.data) or (form.definition.data or "").strip()
            heirs: dict = {}
            if text:
                workflows = Path(current_app.config["WORKFLOWS_DIR"])
                definition, heirs = simulator.load_edited_with_heirs(text, workflows)
                edited = True
            else:
                definition = definitions[form.workflow_type.data]
            result = simulator.run_in_use(definition, simulator.parse_scenario(form.scenario.data), definitions, heirs)
        except DefinitionError as error:
            problems = [f"{file_name}: {message}" for file_name, message in error.problems]
        except simulator.ScenarioError as error:
            problems = [str(error)]
        finally:
            db.session.rollback()  # a walk never writes; nothing to keep
    status = 422 if form.is_submitted() and (problems or form.errors) else 200
    return render_template("workflow/simulate.html", form=form, result=result, problems=problems, edited=edited), status
