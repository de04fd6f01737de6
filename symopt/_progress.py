"""One progress display for long runs (batches of problems, epochs of training): a tqdm
bar when tqdm is installed (the ``progress`` extra), else one line on stderr rewritten in
place.  Callers decide *whether* a run is long enough to show it."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Progress of ``total`` steps of ``unit`` (e.g. 1000 problems, 20 epochs)."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.start = time.perf_counter()
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
            if initial:
                self.update(initial)
        else:
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit,
                            unit_scale=total >= 10_000, file=sys.stderr)

    def update(self, done: int, text: str = "") -> None:
        """``done`` steps of ``total`` are finished; ``text`` is shown next to the count
        (e.g. the current loss)."""
        if self.bar is not None:
            if text:
                self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(done - self.bar.n)
            return
        elapsed = time.perf_counter() - self.start
        percent = 100.0 * done / self.total if self.total else 100.0
        sys.stderr.write(f"\r{self.desc}: {self.unit} {done:,}/{self.total:,} "
                         f"({percent:.0f}%, {elapsed:.1f} s){' ' + text if text else ''}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()
