"""ff14SB residue templates for recovering residues and atom names from MISATO type codes.

MISATO stores per atom an Amber type code and a residue-name code, but no residue boundaries
and no atom names. Within a molecule, atoms follow tleap library order, so matching the run of
type codes at the current atom against the templates of the named residue (internal ``XXX``,
N-terminal ``NXXX``, C-terminal ``CXXX``; hydrogens removed for H-stripped files) recovers
each residue's length, terminus state and atom names (see docs/data-format.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


@dataclass(frozen=True)
class Variant:
    """One template variant: its key (``ALA``/``NALA``/``CALA``), type codes and atom names."""

    key: str
    codes: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def backbone(self) -> tuple[int, int, int] | None:
        """Offsets of N, CA, C within the residue, or None (e.g. ACE)."""
        try:
            return (self.names.index("N"), self.names.index("CA"), self.names.index("C"))
        except ValueError:
            return None


@dataclass(frozen=True)
class Residue:
    """A parsed residue: atoms ``[start, start + len(names))`` of the record."""

    start: int
    name: str
    key: str
    names: tuple[str, ...]
    backbone: tuple[int, int, int] | None = None

    @property
    def terminus(self) -> str:
        """``N``, ``C`` or ``""``."""
        return self.key[0] if self.key != self.name else ""


class Templates:
    """The MISATO code maps plus the ff14SB templates, indexed by residue code."""

    def __init__(self) -> None:
        def load(name: str) -> dict:
            return json.loads((RESOURCES / name).read_text())

        self.type_name = {int(k): v for k, v in load("atom_type_code_to_amber_type.json").items()}
        self.res_name = {int(k): v for k, v in load("residue_code_to_name.json").items()}
        self._templates = load("ff14sb_residue_templates.json")["templates"]
        self._type_code = {v: k for k, v in self.type_name.items()}
        self._cache: dict[tuple[int, bool], list[Variant]] = {}
        self._backbone: dict[Variant, tuple[int, ...]] = {}
        self.peptides = {
            line.strip().upper()
            for line in (RESOURCES / "peptides.txt").read_text().splitlines()
            if line.strip()
        }

    def variants(self, res_code: int, heavy_only: bool) -> list[Variant]:
        """Template variants for a residue code, longest first; [] for unknown codes."""
        key = (res_code, heavy_only)
        if key not in self._cache:
            name = self.res_name.get(res_code, "")
            out = []
            for tkey in (name, "N" + name, "C" + name):
                tmpl = self._templates.get(tkey)
                if not name or tmpl is None or tmpl["base"] != name:
                    continue
                atoms = [a for a in tmpl["atoms"] if not (heavy_only and a[2] == "H")]
                codes = tuple(self._type_code.get(a[1], -999) for a in atoms)
                out.append(Variant(tkey, codes, tuple(a[0] for a in atoms)))
            self._cache[key] = sorted(out, key=lambda v: -len(v.codes))
        return self._cache[key]

    def parse(
        self, types: list[int], rescodes: list[int], start: int, end: int, heavy_only: bool
    ) -> tuple[list[Residue], int | None]:
        """Split atoms ``[start, end)`` into residues.

        Returns:
            (residues, failed_at): ``failed_at`` is the first atom no template matches, or None.
        """
        out: list[Residue] = []
        i = start
        while i < end:
            code = rescodes[i]
            match = None
            for var in self.variants(code, heavy_only):
                n = len(var.codes)
                if i + n <= end and tuple(types[i : i + n]) == var.codes:
                    if all(c == code for c in rescodes[i : i + n]):
                        match = var
                        break
            if match is None:
                return out, i
            bb = self._backbone.get(match)
            if bb is None:
                bb = self._backbone[match] = match.backbone or ()
            out.append(Residue(i, self.res_name[code], match.key, match.names, bb or None))
            i += len(match.codes)
        return out, None


@lru_cache(maxsize=1)
def templates() -> Templates:
    """The process-wide template table (loaded once)."""
    return Templates()


def split_chains(residues: list[Residue]) -> list[list[Residue]]:
    """Cut a molecule's residues after C-terminal and before N-terminal variants."""
    chains: list[list[Residue]] = []
    cur: list[Residue] = []
    for res in residues:
        if cur and (res.terminus == "N" or res.name == "ACE"):
            chains.append(cur)
            cur = []
        cur.append(res)
        if res.terminus == "C":
            chains.append(cur)
            cur = []
    if cur:
        chains.append(cur)
    return chains
