from pathlib import Path

import pytest

from sandbox.config import BUILTIN_TEMPLATES
from sandbox.errors import NotFoundError, TemplateError
from sandbox.templates import find_template, list_templates, parse_template


def test_shipped_templates_are_valid():
    names = {t.name: t for t in list_templates([BUILTIN_TEMPLATES])}
    assert {"aws-individual", "aws-group", "gcp-individual", "gcp-group"} <= set(names)
    assert names["aws-group"].kind == "group" and names["aws-group"].approval_required
    assert names["aws-individual"].thresholds[-1].action == "freeze"


@pytest.mark.parametrize("text, field, problem", [
    ('provider = "azure"', "provider", "must be one of"),
    ('provider = "aws"\nkind = "team"', "kind", "must be one of"),
    ('provider = "aws"\ndefault_ttl = "forever"', "default_ttl", "not a duration"),
    ('provider = "aws"\ndefault_ttl = "40d"\nmax_ttl = "30d"', "default_ttl", "longer than max_ttl"),
    ('provider = "aws"\nmin_ttl = "2d"\ndefault_ttl = "1d"', "min_ttl", "longer than default_ttl"),
    ('provider = "aws"\nmin_ttl = "1mo"', "min_ttl", "months are ambiguous"),
    ('provider = "aws"\nmax_extensions = -1', "max_extensions", "negative"),
    ('provider = "aws"\n[budget]\nthresholds = [{percent = 50, action = "explode"}]\namount_usd = 5',
     "budget.thresholds[0].action", "must be one of"),
    ('provider = "aws"\n[budget]\nthresholds = [{percent = 50}]', "budget.thresholds", "need budget.amount_usd"),
    ('provider = "aws"\n[aws]\npolicies = ["AdministratorAccess"]', "aws.policies[0]", "not an IAM policy ARN"),
    ('provider = "gcp"\n[gcp]\nservices = ["compute"]', "gcp.services[0]", "must be a service"),
    ('provider = "gcp"\n[aws]\naccess_keys = true', "aws", "does not belong"),
    ('provider = "aws"\ncolour = "red"', "colour", "unknown field"),
    ('description = "no provider"', "provider", "is required"),
    ('provider = "aws"\napproval_required = "yes"', "approval_required", "must be bool"),
])
def test_malformed_template_names_file_field_and_problem(text, field, problem):
    with pytest.raises(TemplateError) as err:
        parse_template(text, "/t/bad.toml", "bad")
    message = str(err.value)
    assert message.startswith("/t/bad.toml: field ") or "not valid TOML" in message
    assert f"field {field}" in message and problem in message


def test_invalid_toml_names_file():
    with pytest.raises(TemplateError, match=r"^/t/x.toml: not valid TOML"):
        parse_template("provider = ", "/t/x.toml", "x")


def test_unknown_template_says_what_to_run():
    with pytest.raises(NotFoundError, match="sandbox templates list"):
        find_template([BUILTIN_TEMPLATES], "nope")


def test_earlier_directory_overrides_builtin(tmp_path: Path):
    (tmp_path / "aws-individual.toml").write_text('provider = "aws"\ndescription = "ours"\n')
    assert find_template([tmp_path, BUILTIN_TEMPLATES], "aws-individual").description == "ours"


def test_a_template_has_a_minimum_ttl_of_an_hour_unless_it_says_or_lives_shorter():
    from datetime import timedelta

    assert parse_template('provider = "aws"', "/t/a.toml", "a").min_ttl == timedelta(hours=1)
    assert parse_template('provider = "aws"\nmin_ttl = "10m"', "/t/a.toml", "a").min_ttl == timedelta(minutes=10)
    short = parse_template('provider = "aws"\ndefault_ttl = "20m"', "/t/a.toml", "a")
    assert short.min_ttl == timedelta(minutes=20)  # a template of short-lived sandboxes still loads
    assert parse_template('provider = "aws"', "/t/a.toml", "a").to_json()["min_ttl"] == "1h"
