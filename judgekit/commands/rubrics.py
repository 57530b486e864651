"""``judgekit rubrics``: list the shipped rubrics and show one."""

from __future__ import annotations

import click
from rich.table import Table

from judgekit.commands.common import print_json, stdout


@click.group()
def rubrics() -> None:
    """Rubrics for `judgekit grade` (YAML in rubrics/<name>/rubric.yaml)."""


@rubrics.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def list_rubrics(as_json: bool) -> None:
    """List the shipped rubrics with their scale and criteria."""
    from judgekit.rubrics.loader import list_rubrics as load_all

    loaded = load_all()
    if as_json:
        print_json(
            [
                {
                    "name": r.name,
                    "title": r.rubric.display_name,
                    "description": r.rubric.description,
                    "scale": [r.rubric.scale.min, r.rubric.scale.max],
                    "criteria": [c.id for c in r.rubric.criteria],
                }
                for r in loaded
            ]
        )
        return
    table = Table(title="Rubrics", title_justify="left", header_style="bold")
    for name in ("Name", "Scale", "Criteria", "Description"):
        table.add_column(name)
    for r in loaded:
        spec = r.rubric
        table.add_row(
            r.name,
            f"{spec.scale.min}-{spec.scale.max}",
            ", ".join(c.id for c in spec.criteria),
            spec.description,
        )
    stdout.print(table)


@rubrics.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--prompt", "with_prompt", is_flag=True, help="Also print the prompt template.")
def show_rubric(name: str, as_json: bool, with_prompt: bool) -> None:
    """Show rubric NAME (a shipped name, a folder or a YAML file): criteria and levels."""
    from rich.markup import escape

    from judgekit.rubrics.loader import load_rubric

    loaded = load_rubric(name)
    spec = loaded.rubric
    if as_json:
        payload = spec.model_dump(mode="json")
        payload["template_path"] = str(loaded.template.path)
        if with_prompt:
            payload["template_text"] = loaded.template.text
        print_json(payload)
        return
    out = [f"[bold]{escape(spec.display_name)}[/bold] ({spec.name}, version {spec.version})"]
    if spec.description:
        out.append(escape(spec.description))
    out.append(f"Scale: {spec.scale.min} to {spec.scale.max}")
    for criterion in spec.criteria:
        title = escape(criterion.name)
        out.append(f"\n[bold]{title}[/bold] ({criterion.id}, weight {criterion.weight:g})")
        out.append(f"  {escape(criterion.question)}")
        out.extend(f"  {score}: {escape(text)}" for score, text in criterion.levels.items())
    if spec.reference_answer:
        out.append(f"\nReference answer: {escape(spec.reference_answer)}")
    if spec.references:
        out.append(f"\nPer-item references: {len(spec.references)}")
    out.append(f"\nTemplate: {escape(str(loaded.template.path))}")
    for line in out:
        stdout.print(line, highlight=False, markup=True)
    if with_prompt:
        stdout.print(loaded.template.text, highlight=False, markup=False)
