"""The finding objects every stage and every output format shares.

Positions are 1-based; columns count Unicode code points; ``end_*`` is exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True)
class Position:
    line: int
    column: int

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "column": self.column}


@dataclass(frozen=True)
class ChainStep:
    """One step on the way from the unstable value to the key sink."""

    line: int
    column: int
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "note": self.note}


@dataclass(frozen=True)
class Edit:
    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability,
            "message": self.message,
            "edits": [e.to_json() for e in self.edits],
        }


@dataclass(frozen=True)
class Diagnostic:
    """One finding, reported at the key sink."""

    code: str
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    source: Position | None = None
    chain: tuple[ChainStep, ...] = field(default=())
    fix: Fix | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "source": self.source.to_json() if self.source else None,
            "chain": [s.to_json() for s in self.chain],
            "fix": self.fix.to_json() if self.fix else None,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> "Diagnostic":
        fix = data.get("fix")
        return Diagnostic(
            code=data["code"],
            message=data["message"],
            path=data["path"],
            line=data["line"],
            column=data["column"],
            end_line=data["end_line"],
            end_column=data["end_column"],
            source=Position(**data["source"]) if data.get("source") else None,
            chain=tuple(ChainStep(**s) for s in data.get("chain", ())),
            fix=Fix(
                applicability=fix["applicability"],
                message=fix["message"],
                edits=tuple(Edit(**e) for e in fix["edits"]),
            )
            if fix
            else None,
        )

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)
