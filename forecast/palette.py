"""The one colour per forecaster that every figure uses (forecast and experiments figures alike), so a forecaster
keeps its colour from figure to figure. Keyed by the forecaster's base name (``gbm+cqr`` and
``ensemble(gbm 0.38, …)+cqr`` are ``gbm`` and ``ensemble``); a name not listed gets a fixed colour from its name."""
from __future__ import annotations

import re
import zlib

#: base name → matplotlib colour
FORECASTER_COLOURS: dict[str, str] = {
    "ensemble": "#1f77b4", "gbm": "#ff7f0e", "lstm": "#2ca02c", "tft": "#17becf", "prophet": "#9467bd",
    "persistence": "#7f7f7f", "seasonal24": "#bcbd22", "seasonal168": "#8c564b", "dacf": "#d62728",
    "perfect foresight": "#000000",
}
#: colours for names outside the table (chosen by a checksum of the name: the same in every figure and process)
SPARE_COLOURS: tuple[str, ...] = ("#e377c2", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                                  "#f7b6d2", "#dbdb8d", "#9edae5")


def base_name(forecaster: str) -> str:
    """``ensemble(gbm 0.38, …)+cqr`` → ``ensemble``, ``gbm+cqr`` → ``gbm``, ``DACF (published)`` → ``dacf``."""
    name = str(forecaster).strip()
    if name.lower().startswith("perfect foresight"):
        return "perfect foresight"
    return re.split(r"[(+ ]", name, maxsplit=1)[0].lower()


def forecaster_colour(forecaster: str) -> str:
    """The colour of ``forecaster`` in every figure."""
    base = base_name(forecaster)
    return FORECASTER_COLOURS.get(base) or SPARE_COLOURS[zlib.crc32(base.encode()) % len(SPARE_COLOURS)]
