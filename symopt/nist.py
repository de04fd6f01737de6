"""NIST StRD nonlinear regression problems of higher difficulty, with certified values.

The data, models, starting values and certified values are those published by NIST's
Statistical Reference Datasets project (public domain):
https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml.  Certified values were computed
by NIST to 11 significant digits (of which 10 are printed) with 128-bit arithmetic.

Each :class:`NistProblem` holds the model text symopt fits (``fit(problem.model, ...)``
with ``x`` and ``y``), the two NIST starting points (start 1 is far from the solution,
start 2 closer), the certified parameters, their standard errors and the residual sum
of squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NistProblem", "PROBLEMS"]


@dataclass(frozen=True)
class NistProblem:
    """One NIST StRD nonlinear regression problem."""

    name: str
    difficulty: str
    model: str
    parameters: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    start1: tuple[float, ...]
    start2: tuple[float, ...]
    certified: tuple[float, ...]
    certified_stderr: tuple[float, ...]
    certified_rss: float

    @property
    def data(self) -> dict[str, np.ndarray]:
        """``{"x": ..., "y": ...}`` as arrays, ready for ``fit(..., **problem.data)``."""
        return {"x": np.array(self.x), "y": np.array(self.y)}

    def start(self, which: int) -> dict[str, float]:
        """NIST start ``which`` (1 or 2) by parameter name."""
        values = self.start1 if which == 1 else self.start2
        return dict(zip(self.parameters, values))


_MGH09_X = (4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625)
_MGH09_Y = (0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235,
            0.0246)

_THURBER_X = (-3.067, -2.981, -2.921, -2.912, -2.840, -2.797, -2.702, -2.699, -2.633, -2.481,
              -2.363, -2.322, -1.501, -1.460, -1.274, -1.212, -1.100, -1.046, -0.915, -0.714,
              -0.566, -0.545, -0.400, -0.309, -0.109, -0.103, 0.010, 0.119, 0.377, 0.790,
              0.963, 1.006, 1.115, 1.572, 1.841, 2.047, 2.200)
_THURBER_Y = (80.574, 84.248, 87.264, 87.195, 89.076, 89.608, 89.868, 90.101, 92.405, 95.854,
              100.696, 101.060, 401.672, 390.724, 567.534, 635.316, 733.054, 759.087,
              894.206, 990.785, 1090.109, 1080.914, 1122.643, 1178.351, 1260.531, 1273.514,
              1288.339, 1327.543, 1353.863, 1414.509, 1425.208, 1421.384, 1442.962, 1464.350,
              1468.705, 1447.894, 1457.628)

_ECKERLE4_X = (400.0, 405.0, 410.0, 415.0, 420.0, 425.0, 430.0, 435.0, 436.5, 438.0, 439.5,
               441.0, 442.5, 444.0, 445.5, 447.0, 448.5, 450.0, 451.5, 453.0, 454.5, 456.0,
               457.5, 459.0, 460.5, 462.0, 463.5, 465.0, 470.0, 475.0, 480.0, 485.0, 490.0,
               495.0, 500.0)
_ECKERLE4_Y = (0.0001575, 0.0001699, 0.0002350, 0.0003102, 0.0004917, 0.0008710, 0.0017418,
               0.0046400, 0.0065895, 0.0097302, 0.0149002, 0.0237310, 0.0401683, 0.0712559,
               0.1264458, 0.2073413, 0.2902366, 0.3445623, 0.3698049, 0.3668534, 0.3106727,
               0.2078154, 0.1164354, 0.0616764, 0.0337200, 0.0194023, 0.0117831, 0.0074357,
               0.0022732, 0.0008800, 0.0004579, 0.0002345, 0.0001586, 0.0001143, 0.0000710)

_RAT42_X = (9.0, 14.0, 21.0, 28.0, 42.0, 57.0, 63.0, 70.0, 79.0)
_RAT42_Y = (8.930, 10.800, 18.590, 22.330, 39.350, 56.110, 61.730, 64.620, 67.080)

_RAT43_X = tuple(float(i) for i in range(1, 16))
_RAT43_Y = (16.08, 33.83, 65.80, 97.20, 191.55, 326.20, 386.87, 520.53, 590.03, 651.92,
            724.93, 699.56, 689.96, 637.56, 717.41)

_MGH10_X = tuple(50.0 + 5.0 * i for i in range(16))
_MGH10_Y = (34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0, 8261.0,
            7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0)

_BOXBOD_X = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
_BOXBOD_Y = (109.0, 149.0, 149.0, 191.0, 213.0, 224.0)

#: The problems by name.
PROBLEMS: dict[str, NistProblem] = {p.name: p for p in [
    NistProblem(
        "MGH09", "higher", "b1*(x**2 + x*b2) / (x**2 + x*b3 + b4)", ("b1", "b2", "b3", "b4"),
        _MGH09_X, _MGH09_Y, (25.0, 39.0, 41.5, 39.0), (0.25, 0.39, 0.415, 0.39),
        (1.9280693458e-01, 1.9128232873e-01, 1.2305650693e-01, 1.3606233068e-01),
        (1.1435312227e-02, 1.9633220911e-01, 8.0842031232e-02, 9.0025542308e-02),
        3.0750560385e-04),
    NistProblem(
        "Thurber", "higher",
        "(b1 + b2*x + b3*x**2 + b4*x**3) / (1 + b5*x + b6*x**2 + b7*x**3)",
        ("b1", "b2", "b3", "b4", "b5", "b6", "b7"), _THURBER_X, _THURBER_Y,
        (1000.0, 1000.0, 400.0, 40.0, 0.7, 0.3, 0.03),
        (1300.0, 1500.0, 500.0, 75.0, 1.0, 0.4, 0.05),
        (1.2881396800e03, 1.4910792535e03, 5.8323836877e02, 7.5416644291e01,
         9.6629502864e-01, 3.9797285797e-01, 4.9727297349e-02),
        (4.6647963344e00, 3.9571156086e01, 2.8698696102e01, 5.5675370270e00,
         3.1333340687e-02, 1.4984928198e-02, 6.5842344623e-03),
        5.6427082397e03),
    NistProblem(
        "Eckerle4", "higher", "(b1/b2) * exp(-0.5*((x - b3)/b2)**2)", ("b1", "b2", "b3"),
        _ECKERLE4_X, _ECKERLE4_Y, (1.0, 10.0, 500.0), (1.5, 5.0, 450.0),
        (1.5543827178e00, 4.0888321754e00, 4.5154121844e02),
        (1.5408051163e-02, 4.6803020753e-02, 4.6800518816e-02),
        1.4635887487e-03),
    NistProblem(
        "Rat42", "higher", "b1 / (1 + exp(b2 - b3*x))", ("b1", "b2", "b3"),
        _RAT42_X, _RAT42_Y, (100.0, 1.0, 0.1), (75.0, 2.5, 0.07),
        (7.2462237576e01, 2.6180768402e00, 6.7359200066e-02),
        (1.7340283401e00, 8.8295217536e-02, 3.4465663377e-03),
        8.0565229338e00),
    NistProblem(
        "Rat43", "higher", "b1 / (1 + exp(b2 - b3*x))**(1/b4)", ("b1", "b2", "b3", "b4"),
        _RAT43_X, _RAT43_Y, (100.0, 10.0, 1.0, 1.0), (700.0, 5.0, 0.75, 1.3),
        (6.9964151270e02, 5.2771253025e00, 7.5962938329e-01, 1.2792483859e00),
        (1.6302297817e01, 2.0828735829e00, 1.9566123451e-01, 6.8761936385e-01),
        8.7864049080e03),
    NistProblem(
        "MGH10", "higher", "b1 * exp(b2/(x + b3))", ("b1", "b2", "b3"),
        _MGH10_X, _MGH10_Y, (2.0, 400000.0, 25000.0), (0.02, 4000.0, 250.0),
        (5.6096364710e-03, 6.1813463463e03, 3.4522363462e02),
        (1.5687892471e-04, 2.3309021107e01, 7.8486103508e-01),
        8.7945855171e01),
    NistProblem(
        "BoxBOD", "higher", "b1*(1 - exp(-b2*x))", ("b1", "b2"),
        _BOXBOD_X, _BOXBOD_Y, (1.0, 1.0), (100.0, 0.75),
        (2.1380940889e02, 5.4723748542e-01),
        (1.2354515176e01, 1.0455993237e-01),
        1.1680088766e03),
]}
