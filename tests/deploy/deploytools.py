"""Helpers for the deployment tests: where the files are, and how to read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "template.yaml"
OIDC = ROOT / "deploy" / "aws" / "github-oidc.yaml"


class CfnTag(dict[str, object]):
    """A CloudFormation short-form function (``!Ref x`` → ``{"Ref": "x"}``)."""


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> CfnTag:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: object = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return CfnTag({name: value})


_CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return data


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type: logical id → Properties (and Metadata under ``_meta``)."""
    out = {}
    for name, res in load_template()["Resources"].items():
        if res["Type"] == kind:
            out[name] = {**res.get("Properties", {}), "_meta": res.get("Metadata", {})}
    return out
