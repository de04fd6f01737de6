"""The compiled least-squares solvers (symopt.solvers.least_squares) on hand-written
residual kernels.

Every kernel below is written by hand with a hand-derived Jacobian (checked against
central differences), so these tests depend on nothing but the kernel ABI.  Reference
solutions: MGH = Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), whose minima are given
to 6 digits, refined here to 12 digits with mpmath (Newton's method on the exact
gradient at 40 digits, from the scipy solution); NIST = the certified values of the NIST
StRD nonlinear regression data sets (11 digits), which the same mpmath computation
reproduces.  The model fits take their data through the ``data`` argument
(``data[0]`` = x column, ``data[1]`` = y column) and loop over its rows.

The solvers are called from Python with the dispatchers (slow, simple); one test binds
them inside a small ``@njit`` wrapper (fast).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from numba import njit

from symopt import abi
from symopt.solvers import least_squares as ls
from symopt.solvers import qr, status

NO_PARAMS = np.zeros(0)
NO_DATA = np.zeros((0, 0))
KERNEL = {"cache": True, "error_model": "numpy"}


# --- MGH problems with constant data -------------------------------------------------------


@njit(**KERNEL)
def rosenbrock_r(x, p, data, r):
    r[0] = 10.0 * (x[1] - x[0] * x[0])
    r[1] = 1.0 - x[0]


@njit(**KERNEL)
def rosenbrock_j(x, p, data, r, J):
    rosenbrock_r(x, p, data, r)
    J[0, 0] = -20.0 * x[0]
    J[0, 1] = 10.0
    J[1, 0] = -1.0
    J[1, 1] = 0.0


@njit(**KERNEL)
def freudenstein_roth_r(x, p, data, r):
    x1, x2 = x[0], x[1]
    r[0] = -13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2
    r[1] = -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2


@njit(**KERNEL)
def freudenstein_roth_j(x, p, data, r, J):
    freudenstein_roth_r(x, p, data, r)
    x2 = x[1]
    J[0, 0] = 1.0
    J[0, 1] = -3.0 * x2 * x2 + 10.0 * x2 - 2.0
    J[1, 0] = 1.0
    J[1, 1] = 3.0 * x2 * x2 + 2.0 * x2 - 14.0


@njit(**KERNEL)
def powell_badly_scaled_r(x, p, data, r):
    r[0] = 1e4 * x[0] * x[1] - 1.0
    r[1] = math.exp(-x[0]) + math.exp(-x[1]) - 1.0001


@njit(**KERNEL)
def powell_badly_scaled_j(x, p, data, r, J):
    powell_badly_scaled_r(x, p, data, r)
    J[0, 0] = 1e4 * x[1]
    J[0, 1] = 1e4 * x[0]
    J[1, 0] = -math.exp(-x[0])
    J[1, 1] = -math.exp(-x[1])


@njit(**KERNEL)
def brown_badly_scaled_r(x, p, data, r):
    r[0] = x[0] - 1e6
    r[1] = x[1] - 2e-6
    r[2] = x[0] * x[1] - 2.0


@njit(**KERNEL)
def brown_badly_scaled_j(x, p, data, r, J):
    brown_badly_scaled_r(x, p, data, r)
    J[0, 0] = 1.0
    J[0, 1] = 0.0
    J[1, 0] = 0.0
    J[1, 1] = 1.0
    J[2, 0] = x[1]
    J[2, 1] = x[0]


BEALE_Y = np.array([1.5, 2.25, 2.625])


@njit(**KERNEL)
def beale_r(x, p, data, r):
    for k in range(3):
        r[k] = BEALE_Y[k] - x[0] * (1.0 - x[1] ** (k + 1))


@njit(**KERNEL)
def beale_j(x, p, data, r, J):
    beale_r(x, p, data, r)
    for k in range(3):
        i = k + 1
        J[k, 0] = x[1] ** i - 1.0
        J[k, 1] = x[0] * i * x[1] ** (i - 1)


@njit(**KERNEL)
def box3d_r(x, p, data, r):
    for k in range(10):
        t = 0.1 * (k + 1)
        c = math.exp(-t) - math.exp(-10.0 * t)
        r[k] = math.exp(-t * x[0]) - math.exp(-t * x[1]) - x[2] * c


@njit(**KERNEL)
def box3d_j(x, p, data, r, J):
    box3d_r(x, p, data, r)
    for k in range(10):
        t = 0.1 * (k + 1)
        J[k, 0] = -t * math.exp(-t * x[0])
        J[k, 1] = t * math.exp(-t * x[1])
        J[k, 2] = -(math.exp(-t) - math.exp(-10.0 * t))


BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96,
                   1.34, 2.10, 4.39])


@njit(**KERNEL)
def bard_r(x, p, data, r):
    for k in range(15):
        u = k + 1.0
        v = 16.0 - u
        w = min(u, v)
        r[k] = BARD_Y[k] - (x[0] + u / (v * x[1] + w * x[2]))


@njit(**KERNEL)
def bard_j(x, p, data, r, J):
    bard_r(x, p, data, r)
    for k in range(15):
        u = k + 1.0
        v = 16.0 - u
        w = min(u, v)
        den = v * x[1] + w * x[2]
        J[k, 0] = -1.0
        J[k, 1] = u * v / (den * den)
        J[k, 2] = u * w / (den * den)


GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                       0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


@njit(**KERNEL)
def gaussian_r(x, p, data, r):
    for k in range(15):
        d = (7.0 - k) / 2.0 - x[2]
        r[k] = x[0] * math.exp(-x[1] * d * d / 2.0) - GAUSSIAN_Y[k]


@njit(**KERNEL)
def gaussian_j(x, p, data, r, J):
    gaussian_r(x, p, data, r)
    for k in range(15):
        d = (7.0 - k) / 2.0 - x[2]
        e = math.exp(-x[1] * d * d / 2.0)
        J[k, 0] = e
        J[k, 1] = -x[0] * e * d * d / 2.0
        J[k, 2] = x[0] * e * x[1] * d


MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
                    8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0])


@njit(**KERNEL)
def meyer_r(x, p, data, r):
    for k in range(16):
        t = 45.0 + 5.0 * (k + 1)
        r[k] = x[0] * math.exp(x[1] / (t + x[2])) - MEYER_Y[k]


@njit(**KERNEL)
def meyer_j(x, p, data, r, J):
    meyer_r(x, p, data, r)
    for k in range(16):
        t = 45.0 + 5.0 * (k + 1)
        s = t + x[2]
        e = math.exp(x[1] / s)
        J[k, 0] = e
        J[k, 1] = x[0] * e / s
        J[k, 2] = -x[0] * e * x[1] / (s * s)


KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323,
                 0.0235, 0.0246])
KO_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


@njit(**KERNEL)
def kowalik_osborne_r(x, p, data, r):
    for k in range(11):
        u = KO_U[k]
        r[k] = KO_Y[k] - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])


@njit(**KERNEL)
def kowalik_osborne_j(x, p, data, r, J):
    kowalik_osborne_r(x, p, data, r)
    for k in range(11):
        u = KO_U[k]
        num = u * u + u * x[1]
        den = u * u + u * x[2] + x[3]
        J[k, 0] = -num / den
        J[k, 1] = -x[0] * u / den
        J[k, 2] = x[0] * num * u / (den * den)
        J[k, 3] = x[0] * num / (den * den)


OSBORNE1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784,
                       0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522,
                       0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420,
                       0.414, 0.411, 0.406])


@njit(**KERNEL)
def osborne1_r(x, p, data, r):
    for k in range(33):
        t = 10.0 * k
        r[k] = OSBORNE1_Y[k] - (x[0] + x[1] * math.exp(-t * x[3]) + x[2] * math.exp(-t * x[4]))


@njit(**KERNEL)
def osborne1_j(x, p, data, r, J):
    osborne1_r(x, p, data, r)
    for k in range(33):
        t = 10.0 * k
        e4 = math.exp(-t * x[3])
        e5 = math.exp(-t * x[4])
        J[k, 0] = -1.0
        J[k, 1] = -e4
        J[k, 2] = -e5
        J[k, 3] = t * x[1] * e4
        J[k, 4] = t * x[2] * e5


OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679,
    0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644,
    0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391,
    0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
    0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
    0.428, 0.292, 0.162, 0.098, 0.054])


@njit(**KERNEL)
def osborne2_r(x, p, data, r):
    for k in range(65):
        t = k / 10.0
        d9, d10, d11 = t - x[8], t - x[9], t - x[10]
        r[k] = OSBORNE2_Y[k] - (x[0] * math.exp(-t * x[4]) + x[1] * math.exp(-d9 * d9 * x[5])
                                + x[2] * math.exp(-d10 * d10 * x[6])
                                + x[3] * math.exp(-d11 * d11 * x[7]))


@njit(**KERNEL)
def osborne2_j(x, p, data, r, J):
    osborne2_r(x, p, data, r)
    for k in range(65):
        t = k / 10.0
        d9, d10, d11 = t - x[8], t - x[9], t - x[10]
        e1 = math.exp(-t * x[4])
        e2 = math.exp(-d9 * d9 * x[5])
        e3 = math.exp(-d10 * d10 * x[6])
        e4 = math.exp(-d11 * d11 * x[7])
        J[k, 0] = -e1
        J[k, 1] = -e2
        J[k, 2] = -e3
        J[k, 3] = -e4
        J[k, 4] = t * x[0] * e1
        J[k, 5] = x[1] * d9 * d9 * e2
        J[k, 6] = x[2] * d10 * d10 * e3
        J[k, 7] = x[3] * d11 * d11 * e4
        J[k, 8] = -2.0 * x[1] * x[5] * d9 * e2
        J[k, 9] = -2.0 * x[2] * x[6] * d10 * e3
        J[k, 10] = -2.0 * x[3] * x[7] * d11 * e4


# --- NIST StRD models: data through `data` (data[0] = x, data[1] = y), one row each -------


@njit(**KERNEL)
def exp_rise_r(x, p, data, r):
    """Misra1a and BoxBOD: y = b1 (1 - exp(-b2 t))."""
    for i in range(data.shape[1]):
        r[i] = x[0] * (1.0 - math.exp(-x[1] * data[0, i])) - data[1, i]


@njit(**KERNEL)
def exp_rise_j(x, p, data, r, J):
    for i in range(data.shape[1]):
        t = data[0, i]
        e = math.exp(-x[1] * t)
        r[i] = x[0] * (1.0 - e) - data[1, i]
        J[i, 0] = 1.0 - e
        J[i, 1] = x[0] * t * e


@njit(**KERNEL)
def thurber_r(x, p, data, r):
    for i in range(data.shape[1]):
        t = data[0, i]
        num = x[0] + t * (x[1] + t * (x[2] + t * x[3]))
        den = 1.0 + t * (x[4] + t * (x[5] + t * x[6]))
        r[i] = num / den - data[1, i]


@njit(**KERNEL)
def thurber_j(x, p, data, r, J):
    for i in range(data.shape[1]):
        t = data[0, i]
        num = x[0] + t * (x[1] + t * (x[2] + t * x[3]))
        den = 1.0 + t * (x[4] + t * (x[5] + t * x[6]))
        r[i] = num / den - data[1, i]
        q = num / (den * den)
        J[i, 0] = 1.0 / den
        J[i, 1] = t / den
        J[i, 2] = t * t / den
        J[i, 3] = t * t * t / den
        J[i, 4] = -t * q
        J[i, 5] = -t * t * q
        J[i, 6] = -t * t * t * q


@njit(**KERNEL)
def mgh09_r(x, p, data, r):
    for i in range(data.shape[1]):
        t = data[0, i]
        r[i] = x[0] * (t * t + t * x[1]) / (t * t + t * x[2] + x[3]) - data[1, i]


@njit(**KERNEL)
def mgh09_j(x, p, data, r, J):
    for i in range(data.shape[1]):
        t = data[0, i]
        num = t * t + t * x[1]
        den = t * t + t * x[2] + x[3]
        r[i] = x[0] * num / den - data[1, i]
        J[i, 0] = num / den
        J[i, 1] = x[0] * t / den
        J[i, 2] = -x[0] * num * t / (den * den)
        J[i, 3] = -x[0] * num / (den * den)


@njit(**KERNEL)
def rat43_r(x, p, data, r):
    for i in range(data.shape[1]):
        base = 1.0 + math.exp(x[1] - x[2] * data[0, i])
        r[i] = x[0] / base ** (1.0 / x[3]) - data[1, i]


@njit(**KERNEL)
def rat43_j(x, p, data, r, J):
    for i in range(data.shape[1]):
        t = data[0, i]
        e = math.exp(x[1] - x[2] * t)
        base = 1.0 + e
        power = base ** (-1.0 / x[3])
        r[i] = x[0] * power - data[1, i]
        J[i, 0] = power
        J[i, 1] = -x[0] * power * e / (base * x[3])
        J[i, 2] = x[0] * power * e * t / (base * x[3])
        J[i, 3] = x[0] * power * math.log(base) / (x[3] * x[3])


def _columns(x, y):
    return np.ascontiguousarray(np.array([x, y], dtype=np.float64))


MISRA1A_DATA = _columns(
    [77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4, 434.8, 477.3, 536.8, 593.1, 689.1,
     760.0],
    [10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82, 50.76, 55.05, 61.01, 66.40, 75.47,
     81.78])
THURBER_DATA = _columns(
    [-3.067, -2.981, -2.921, -2.912, -2.840, -2.797, -2.702, -2.699, -2.633, -2.481, -2.363,
     -2.322, -1.501, -1.460, -1.274, -1.212, -1.100, -1.046, -0.915, -0.714, -0.566, -0.545,
     -0.400, -0.309, -0.109, -0.103, 0.010, 0.119, 0.377, 0.790, 0.963, 1.006, 1.115, 1.572,
     1.841, 2.047, 2.200],
    [80.574, 84.248, 87.264, 87.195, 89.076, 89.608, 89.868, 90.101, 92.405, 95.854, 100.696,
     101.060, 401.672, 390.724, 567.534, 635.316, 733.054, 759.087, 894.206, 990.785,
     1090.109, 1080.914, 1122.643, 1178.351, 1260.531, 1273.514, 1288.339, 1327.543,
     1353.863, 1414.509, 1425.208, 1421.384, 1442.962, 1464.350, 1468.705, 1447.894,
     1457.628])
BOXBOD_DATA = _columns([1.0, 2.0, 3.0, 5.0, 7.0, 10.0], [109.0, 149.0, 149.0, 191.0, 213.0, 224.0])
MGH09_DATA = _columns(
    [4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625],
    [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
RAT43_DATA = _columns(
    [float(i) for i in range(1, 16)],
    [16.08, 33.83, 65.80, 97.20, 191.55, 326.20, 386.87, 520.53, 590.03, 651.92, 724.93,
     699.56, 689.96, 637.56, 717.41])


# --- the problem table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    name: str
    residuals: object
    jacobian: object
    m: int
    x0: tuple
    #: reference minimiser and sum of squares ||r||^2 (MGH's F; cost = F / 2)
    x_ref: tuple
    f_ref: float
    data: np.ndarray = field(default_factory=lambda: NO_DATA)

    @property
    def n(self) -> int:
        return len(self.x0)


PROBLEMS = {p.name: p for p in [
    Problem("rosenbrock", rosenbrock_r, rosenbrock_j, 2, (-1.2, 1.0), (1.0, 1.0), 0.0),
    Problem("freudenstein_roth", freudenstein_roth_r, freudenstein_roth_j, 2, (0.5, -2.0),
            (11.412778986902, -0.89680525327448), 48.984253679240),
    Problem("powell_badly_scaled", powell_badly_scaled_r, powell_badly_scaled_j, 2, (0.0, 1.0),
            (1.0981593296998e-05, 9.1061467398666), 0.0),
    Problem("brown_badly_scaled", brown_badly_scaled_r, brown_badly_scaled_j, 3, (1.0, 1.0),
            (1e6, 2e-6), 0.0),
    Problem("beale", beale_r, beale_j, 3, (1.0, 1.0), (3.0, 0.5), 0.0),
    Problem("box_3d", box3d_r, box3d_j, 10, (0.0, 10.0, 20.0), (1.0, 10.0, 1.0), 0.0),
    Problem("bard", bard_r, bard_j, 15, (1.0, 1.0, 1.0),
            (0.082410559749789, 1.1330360920297, 2.3436951786425), 8.214877306579e-3),
    Problem("gaussian", gaussian_r, gaussian_j, 15, (0.4, 1.0, 0.0),
            (0.39895613783876, 1.0000190844878, 0.0), 1.127932769619e-8),
    Problem("meyer", meyer_r, meyer_j, 16, (0.02, 4000.0, 250.0),
            (0.0056096364710281, 6181.3463462864, 345.22363462414), 87.945855170851),
    Problem("kowalik_osborne", kowalik_osborne_r, kowalik_osborne_j, 11, (0.25, 0.39, 0.415, 0.39),
            (0.19280693457904, 0.19128232873437, 0.12305650692632, 0.13606233068379),
            3.0750560384924e-4),
    Problem("osborne1", osborne1_r, osborne1_j, 33, (0.5, 1.5, -1.0, 0.01, 0.02),
            (0.37541005210694, 1.9358469127116, -1.4646871366126, 0.012867534640056,
             0.022122699661676), 5.4648946974829e-5),
    Problem("osborne2", osborne2_r, osborne2_j, 65,
            (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5),
            (1.3099771546273, 0.43155379460299, 0.63366169896072, 0.59943053478592,
             0.75418322632801, 0.90428857985963, 1.365811835237, 4.8236988172272,
             2.3986848661318, 4.5688745976677, 5.6753414705806), 4.0137736293548e-2),
    Problem("misra1a", exp_rise_r, exp_rise_j, 14, (500.0, 1e-4),
            (2.3894212918e02, 5.5015643181e-04), 1.2455138894e-01, MISRA1A_DATA),
    Problem("thurber", thurber_r, thurber_j, 37, (1000.0, 1000.0, 400.0, 40.0, 0.7, 0.3, 0.03),
            (1.2881396800e03, 1.4910792535e03, 5.8323836877e02, 7.5416644291e01,
             9.6629502864e-01, 3.9797285797e-01, 4.9727297349e-02), 5.6427082397e03,
            THURBER_DATA),
    # NIST start 2: from start 1 (1, 1) MINPACK's lmder (and solve_lm, see
    # test_boxbod_start_1) stops on a plateau where b2 is huge; Gauss-Newton gets through
    Problem("boxbod", exp_rise_r, exp_rise_j, 6, (100.0, 0.75),
            (2.1380940889e02, 5.4723748542e-01), 1.1680088766e03, BOXBOD_DATA),
    Problem("mgh09", mgh09_r, mgh09_j, 11, (25.0, 39.0, 41.5, 39.0),
            (1.9280693458e-01, 1.9128232873e-01, 1.2305650693e-01, 1.3606233068e-01),
            3.0750560385e-04, MGH09_DATA),
    Problem("rat43", rat43_r, rat43_j, 15, (100.0, 10.0, 1.0, 1.0),
            (6.9964151270e02, 5.2771253025e00, 7.5962938329e-01, 1.2792483859e00),
            8.7864049080e03, RAT43_DATA),
]}


# --- calling the solvers -------------------------------------------------------------------

#: Problems on which Gauss-Newton (no globalisation beyond a line search) converges from
#: the standard start; on the others (a singular J at the Freudenstein-Roth minimum, MGH09
#: and Rat43 from NIST's far start 1) it stalls, as Gauss-Newton does.
GN_PROBLEMS = [name for name in PROBLEMS if name not in ("freudenstein_roth", "mgh09", "rat43")]


def options(method: str, **overrides) -> np.ndarray:
    values = {**ls.LS_DEFAULTS[method], **overrides}
    opts = np.zeros(abi.N_OPTS)
    opts[abi.OPT_GTOL] = values["gtol"]
    opts[abi.OPT_FTOL] = values["ftol"]
    opts[abi.OPT_XTOL] = values["xtol"]
    opts[abi.OPT_MAX_ITER] = values["max_iter"]
    opts[abi.OPT_STEP] = values["step"]
    opts[abi.OPT_C1] = values["c1"]
    opts[abi.OPT_C2] = values["c2"]
    opts[abi.OPT_MAX_LS] = values["max_ls"]
    return opts


@dataclass
class Run:
    x: np.ndarray
    cost: float
    info: np.ndarray
    hist: np.ndarray
    r: np.ndarray
    J: np.ndarray

    @property
    def status(self) -> int:
        return int(self.info[abi.INFO_STATUS])

    @property
    def nit(self) -> int:
        return int(self.info[abi.INFO_NIT])

    @property
    def nfev(self) -> int:
        return int(self.info[abi.INFO_NFEV])

    @property
    def njev(self) -> int:
        return int(self.info[abi.INFO_NJEV])

    @property
    def rows(self) -> np.ndarray:
        return self.hist[: self.info[abi.INFO_NHIST]]


def call(method, residuals, jacobian, x0, m, data=NO_DATA, **overrides) -> Run:
    """Call the compiled solver from Python, passing the kernel dispatchers."""
    solve = ls.get_ls_solver(method)
    opts = options(method, **overrides)
    x = np.array(x0, dtype=np.float64)
    n = x.shape[0]
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    hist = np.zeros((int(opts[abi.OPT_MAX_ITER]) + 1, 2 + n))
    r = np.zeros(m)
    J = np.zeros((m, n))
    cost = solve(residuals, jacobian, x, NO_PARAMS, data, opts, info, hist, r, J)
    return Run(x, cost, info, hist, r, J)


def run(method: str, name: str, x0=None, **overrides) -> Run:
    prob = PROBLEMS[name]
    return call(method, prob.residuals, prob.jacobian, prob.x0 if x0 is None else x0, prob.m,
                prob.data, **overrides)


def x_digits(x, ref) -> float:
    """Correct significant digits of x: -log10 of the largest relative error (a component
    whose reference is 0 is measured relative to the largest reference component)."""
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.max(np.abs(ref))
    errors = [abs(a - b) / (abs(b) if b != 0.0 else scale) for a, b in zip(x, ref)]
    worst = max(errors)
    return 17.0 if worst == 0.0 else -math.log10(worst)


def scipy_lm(prob: Problem, x0=None):
    """scipy.optimize.least_squares(method='lm') (MINPACK's lmder) on the same kernels,
    tolerances 1e-15, evaluation limit out of the way."""
    least_squares = pytest.importorskip("scipy.optimize").least_squares
    r = np.zeros(prob.m)
    J = np.zeros((prob.m, prob.n))

    def fun(x):
        prob.residuals(np.ascontiguousarray(x), NO_PARAMS, prob.data, r)
        return r.copy()

    def jac(x):
        prob.jacobian(np.ascontiguousarray(x), NO_PARAMS, prob.data, r, J)
        return J.copy()

    return least_squares(fun, np.array(prob.x0 if x0 is None else x0, dtype=np.float64),
                         jac=jac, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15,
                         max_nfev=10_000)


# --- the kernels are right -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_hand_written_jacobians_match_central_differences(name):
    prob = PROBLEMS[name]
    for point in (np.array(prob.x0, dtype=np.float64), np.array(prob.x_ref) * 1.01 + 0.001):
        r = np.zeros(prob.m)
        r2 = np.zeros(prob.m)
        J = np.zeros((prob.m, prob.n))
        prob.jacobian(point, NO_PARAMS, prob.data, r, J)
        prob.residuals(point, NO_PARAMS, prob.data, r2)
        np.testing.assert_allclose(r, r2, rtol=1e-12)
        for j in range(prob.n):
            h = 1e-6 * max(1.0, abs(point[j]))
            up, down = point.copy(), point.copy()
            up[j] += h
            down[j] -= h
            r_up, r_down = np.zeros(prob.m), np.zeros(prob.m)
            prob.residuals(up, NO_PARAMS, prob.data, r_up)
            prob.residuals(down, NO_PARAMS, prob.data, r_down)
            central = (r_up - r_down) / (2 * h)
            np.testing.assert_allclose(J[:, j], central, rtol=1e-5,
                                       atol=1e-6 * (1.0 + np.max(np.abs(J))))


# --- accuracy with default options ---------------------------------------------------------


def _check_solution(result: Run, prob: Problem, min_digits: float):
    assert status.is_success(result.status), status.name(result.status)
    digits = x_digits(result.x, prob.x_ref)
    assert digits >= min_digits, f"{prob.name}: only {digits:.1f} correct digits, x = {result.x}"
    f = 2.0 * result.cost  # MGH's F = ||r||^2
    if prob.f_ref > 0.0:
        assert f == pytest.approx(prob.f_ref, rel=1e-9)
    else:
        assert f <= 1e-20


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_lm_reaches_the_reference_solution_with_defaults(name):
    # 7 digits or more on every problem (MINPACK's own accuracy: 7.6 on Kowalik-Osborne
    # and MGH09, whose parameters are poorly determined by the data; 8-17 elsewhere)
    _check_solution(run("lm", name), PROBLEMS[name], 7.0)


@pytest.mark.parametrize("name", GN_PROBLEMS)
def test_gn_reaches_the_reference_solution_with_defaults(name):
    _check_solution(run("gn", name), PROBLEMS[name], 8.0)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_lm_agrees_with_scipy_lm(name):
    """The algorithm of MINPACK's lmder: the same point, about the same number of
    accepted steps (lmder evaluates the Jacobian once per accepted step), and no more
    trial steps (scipy: nfev = 1 + trials; solve_lm stops up to a few trials earlier,
    see check_ls_termination)."""
    prob = PROBLEMS[name]
    ours = run("lm", name)
    theirs = scipy_lm(prob)
    assert theirs.status > 0
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-6, atol=1e-6 * np.max(np.abs(theirs.x)))
    assert 2 * ours.cost == pytest.approx(2 * theirs.cost, rel=1e-9, abs=1e-25)
    assert ours.nit <= theirs.nfev - 1 + 2
    accepted = ours.info[abi.INFO_NHIST] - 1
    assert abs(accepted - (theirs.njev - 1)) <= max(3, 0.1 * theirs.njev)


def test_boxbod_start_1():
    """From NIST's start 1 MINPACK's lmder stops on a plateau (b2 -> large, b1 = mean of
    y: F = 9771.5); so does solve_lm, exactly as scipy's lm.  Gauss-Newton with its
    scale-invariant pivoted QR reaches the certified values."""
    prob = PROBLEMS["boxbod"]
    lm = run("lm", "boxbod", x0=(1.0, 1.0))
    theirs = scipy_lm(prob, x0=(1.0, 1.0))
    assert 2 * lm.cost == pytest.approx(2 * theirs.cost, rel=1e-9)
    assert 2 * lm.cost == pytest.approx(9771.5, rel=1e-9)
    gn = run("gn", "boxbod", x0=(1.0, 1.0))
    _check_solution(gn, prob, 8.0)


# --- bookkeeping -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ls.METHODS)
@pytest.mark.parametrize("name", ["meyer", "thurber", "rosenbrock"])
def test_counts_history_and_outputs(method, name):
    prob = PROBLEMS[name]
    result = run(method, name)
    rows = result.rows
    # row 0 is the start; the last row is the returned point
    np.testing.assert_array_equal(rows[0, 2:], prob.x0)
    np.testing.assert_array_equal(rows[-1, 2:], result.x)
    assert rows[-1, 0] == result.cost
    assert np.all(np.diff(rows[:, 0]) <= 1e-12 * rows[0, 0])  # cost never increases
    # r_out, J_out are the residuals and Jacobian at the final x; ||J^T r||_inf in hist
    r = np.zeros(prob.m)
    J = np.zeros((prob.m, prob.n))
    prob.jacobian(result.x, NO_PARAMS, prob.data, r, J)
    np.testing.assert_array_equal(result.r, r)
    np.testing.assert_array_equal(result.J, J)
    assert result.cost == pytest.approx(0.5 * np.dot(r, r), rel=1e-14, abs=1e-300)
    grad_inf = np.max(np.abs(J.T @ r))
    assert rows[-1, 1] == pytest.approx(grad_inf, rel=1e-8, abs=1e-12 * np.max(np.abs(J)))
    # every kernel call counts in nfev, the Jacobian kernel's in njev too; the start and
    # every accepted point had their Jacobian evaluated
    residual_only = result.nfev - result.njev
    assert 0 <= residual_only
    if method == "lm":
        # one call per trial step (residuals only after a rejected step), plus the
        # Jacobian when such a step is accepted
        assert result.nit + 1 <= result.nfev <= 2 * result.nit + 1
        assert residual_only <= result.nit
        assert result.njev >= result.info[abi.INFO_NHIST]  # start + one per accepted step
    else:
        assert result.info[abi.INFO_NHIST] == result.nit + 1
        assert result.njev >= result.nit + 1


@pytest.mark.parametrize("method", ls.METHODS)
def test_max_iter(method):
    result = run(method, "meyer", max_iter=5)
    assert result.status == status.MAX_ITER
    assert result.nit == 5
    start = run(method, "meyer", max_iter=0)
    assert start.status == status.MAX_ITER
    assert (start.nit, start.nfev, start.njev) == (0, 1, 1)
    np.testing.assert_array_equal(start.x, PROBLEMS["meyer"].x0)


@pytest.mark.parametrize("method", ls.METHODS)
def test_start_at_the_solution(method):
    result = run(method, "rosenbrock", x0=(1.0, 1.0))
    assert result.status == status.SUCCESS_GTOL
    assert (result.nit, result.nfev, result.njev) == (0, 1, 1)
    assert result.cost == 0.0


@pytest.mark.parametrize("method", ls.METHODS)
def test_without_history(method):
    prob = PROBLEMS["misra1a"]
    solve = ls.get_ls_solver(method)
    x = np.array(prob.x0)
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    r = np.zeros(prob.m)
    J = np.zeros((prob.m, prob.n))
    solve(prob.residuals, prob.jacobian, x, NO_PARAMS, prob.data, options(method), info,
          np.zeros((0, 0)), r, J)
    assert info[abi.INFO_NHIST] == 0
    assert x_digits(x, prob.x_ref) >= 8


def test_initial_step_bound_option():
    # opts[OPT_STEP] is lmder's `factor` (0 = 100); a small first region still converges
    small = run("lm", "osborne1", step=0.01)
    assert status.is_success(small.status)
    assert x_digits(small.x, PROBLEMS["osborne1"].x_ref) >= 7
    default = run("lm", "osborne1")
    assert not np.array_equal(small.rows[1], default.rows[1])  # a shorter first step
    first_small = np.linalg.norm(small.rows[1, 2:] - small.rows[0, 2:])
    first_default = np.linalg.norm(default.rows[1, 2:] - default.rows[0, 2:])
    assert first_small < first_default


# --- NaN, Inf and exceptions ----------------------------------------------------------------

# r = log(x) - log(1e-3) (+ a second, linear residual): from x = 1 the first full step
# lands at x < 0, where log is NaN.  data[0, 0] counts the NaN evaluations.
LOG_TARGET = math.log(1e-3)


@njit(**KERNEL)
def log_r(x, p, data, r):
    if x[0] <= 0.0:
        data[0, 0] += 1.0
    r[0] = math.log(x[0]) - LOG_TARGET
    r[1] = 1e-3 * (x[1] - 2.0)


@njit(**KERNEL)
def log_j(x, p, data, r, J):
    log_r(x, p, data, r)
    J[0, 0] = 1.0 / x[0]
    J[0, 1] = 0.0
    J[1, 0] = 0.0
    J[1, 1] = 1e-3


@pytest.mark.parametrize("method", ls.METHODS)
def test_nan_at_a_trial_point_backs_off(method):
    counter = np.zeros((1, 1))
    result = call(method, log_r, log_j, (1.0, 0.0), 2, counter)
    assert counter[0, 0] >= 1  # a trial point was out of the domain
    assert status.is_success(result.status), status.name(result.status)
    np.testing.assert_allclose(result.x, [1e-3, 2.0], rtol=1e-12)
    assert np.all(np.isfinite(result.J))


@pytest.mark.parametrize("method", ls.METHODS)
def test_nan_at_the_start(method):
    result = call(method, log_r, log_j, (-1.0, 0.0), 2, np.zeros((1, 1)))
    assert result.status == status.NAN_ENCOUNTERED
    assert (result.nit, result.nfev, result.njev) == (0, 1, 1)
    assert math.isnan(result.cost)
    np.testing.assert_array_equal(result.x, [-1.0, 0.0])
    assert result.info[abi.INFO_NHIST] == 1


@njit(cache=True)  # Python's error model: the kernel raises
def raising_r(x, p, data, r):
    if x[0] < 0.0:
        raise ValueError("x[0] < 0")
    r[0] = math.sqrt(x[0]) - 0.5
    r[1] = x[1] - 1.0


@njit(cache=True)
def raising_j(x, p, data, r, J):
    raising_r(x, p, data, r)
    J[0, 0] = 0.5 / math.sqrt(x[0])
    J[0, 1] = 0.0
    J[1, 0] = 0.0
    J[1, 1] = 1.0


@pytest.mark.parametrize("method", ls.METHODS)
def test_a_kernel_that_raises_counts_as_nan(method):
    # sqrt(x) = 0.5 from x = 4: the Gauss-Newton step from 4 goes to x = -1 (raises)
    result = call(method, raising_r, raising_j, (4.0, 0.0), 2)
    assert status.is_success(result.status), status.name(result.status)
    np.testing.assert_allclose(result.x, [0.25, 1.0], rtol=1e-12)
    failed = call(method, raising_r, raising_j, (-4.0, 0.0), 2)
    assert failed.status == status.NAN_ENCOUNTERED


@njit(**KERNEL)
def half_line_r(x, p, data, r):
    r[0] = x[0] - 0.1
    r[1] = x[1]


@njit(**KERNEL)
def half_line_j(x, p, data, r, J):
    # finite residuals everywhere, but a Jacobian only for x[0] >= 0.5
    half_line_r(x, p, data, r)
    J[0, 0] = 1.0 if x[0] >= 0.5 else np.nan
    J[0, 1] = 0.0
    J[1, 0] = 0.0
    J[1, 1] = 1.0


def test_lm_nonfinite_jacobian_at_an_accepted_point():
    result = call("lm", half_line_r, half_line_j, (2.0, 1.0), 2)
    assert result.status != status.INVALID_INPUT
    assert result.x[0] >= 0.5
    assert result.cost < 0.5 * (1.9**2 + 1.0)  # it made progress
    # J_out is the Jacobian at the returned point, re-evaluated after the NaN one
    r = np.zeros(2)
    J = np.zeros((2, 2))
    half_line_j(result.x, NO_PARAMS, NO_DATA, r, J)
    np.testing.assert_array_equal(result.J, J)
    np.testing.assert_array_equal(result.r, r)
    assert result.nit + 1 <= result.nfev <= 2 * result.nit + 1


# --- rank deficiency, m < n, bad input ------------------------------------------------------


@njit(**KERNEL)
def sum_only_r(x, p, data, r):
    # depends on x1 + x2 only: J has rank 1.  Least squares: s = x1 + x2 = 1, F = 5
    s = x[0] + x[1]
    r[0] = s - 3.0
    r[1] = 2.0 * s - 1.0 + data[0, 0]


@njit(**KERNEL)
def sum_only_j(x, p, data, r, J):
    sum_only_r(x, p, data, r)
    J[0, 0] = J[0, 1] = 1.0
    J[1, 0] = J[1, 1] = 2.0


@pytest.mark.parametrize("method", ls.METHODS)
@pytest.mark.parametrize("shift, s_ref, f_ref", [(0.0, 1.0, 5.0), (-5.0, 3.0, 0.0)])
def test_rank_deficient_jacobian(method, shift, s_ref, f_ref):
    result = call(method, sum_only_r, sum_only_j, (0.3, -2.0), 2, np.full((1, 1), shift))
    assert status.is_success(result.status), status.name(result.status)
    assert result.x[0] + result.x[1] == pytest.approx(s_ref, rel=1e-12)
    assert 2 * result.cost == pytest.approx(f_ref, rel=1e-12, abs=1e-24)
    assert result.nit <= 20
    assert np.all(np.isfinite(result.x))


@njit(**KERNEL)
def circle_r(x, p, data, r):
    r[0] = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] - 1.0


@njit(**KERNEL)
def circle_j(x, p, data, r, J):
    circle_r(x, p, data, r)
    for j in range(3):
        J[0, j] = 2.0 * x[j]


@pytest.mark.parametrize("method", ls.METHODS)
def test_fewer_residuals_than_variables(method):
    result = call(method, circle_r, circle_j, (2.0, 1.0, -0.5), 1)
    assert status.is_success(result.status), status.name(result.status)
    assert np.dot(result.x, result.x) == pytest.approx(1.0, rel=1e-14)
    assert result.cost <= 1e-28


@pytest.mark.parametrize("method", ls.METHODS)
def test_inconsistent_sizes_are_invalid_input(method):
    prob = PROBLEMS["rosenbrock"]
    solve = ls.get_ls_solver(method)
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    x = np.array(prob.x0)
    bad_J = np.zeros((2, 3))
    cost = solve(prob.residuals, prob.jacobian, x, NO_PARAMS, NO_DATA, options(method), info,
                 np.zeros((0, 0)), np.zeros(2), bad_J)
    assert math.isnan(cost)
    assert info[abi.INFO_STATUS] == status.INVALID_INPUT
    assert info[abi.INFO_NFEV] == 0
    np.testing.assert_array_equal(x, prob.x0)
    short = np.zeros(abi.N_OPTS - 1)
    solve(prob.residuals, prob.jacobian, x, NO_PARAMS, NO_DATA, short, info, np.zeros((0, 0)),
          np.zeros(2), np.zeros((2, 2)))
    assert info[abi.INFO_STATUS] == status.INVALID_INPUT


def test_unknown_method():
    from symopt.errors import InputError

    with pytest.raises(InputError):
        ls.get_ls_solver("dogleg")


def test_defaults_have_every_option():
    from symopt.solvers import DEFAULTS

    keys = set(next(iter(DEFAULTS.values())))
    for method in ls.METHODS:
        assert set(ls.LS_DEFAULTS[method]) == keys
        assert ls.LS_DEFAULTS[method]["ftol"] <= 1e-14
        assert ls.LS_DEFAULTS[method]["xtol"] <= 1e-14


# --- the fast path: kernels bound inside a small @njit wrapper ------------------------------


# The kernels are globals, bound at compile time; arrays are arguments (a global array
# would be frozen read-only into the compiled code).
@njit
def _exp_rise_lm(x, p, data, opts, info, hist, r, J):
    return ls.solve_lm(exp_rise_r, exp_rise_j, x, p, data, opts, info, hist, r, J)


@njit
def _exp_rise_gn(x, p, data, opts, info, hist, r, J):
    return ls.solve_gn(exp_rise_r, exp_rise_j, x, p, data, opts, info, hist, r, J)


@pytest.mark.slow
@pytest.mark.parametrize("method, wrapper", [("lm", _exp_rise_lm), ("gn", _exp_rise_gn)])
def test_bound_in_an_njit_wrapper(method, wrapper):
    prob = PROBLEMS["misra1a"]
    reference = run(method, "misra1a")
    opts = options(method)
    x = np.array(prob.x0)
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    hist = np.zeros((0, 0))
    r = np.zeros(prob.m)
    J = np.zeros((prob.m, prob.n))
    cost = wrapper(x, NO_PARAMS, prob.data, opts, info, hist, r, J)
    np.testing.assert_array_equal(x, reference.x)
    assert cost == reference.cost
    assert info[abi.INFO_NFEV] == reference.nfev
    # bound at compile time, a solve costs microseconds, not a conversion per kernel
    import time

    start = time.perf_counter()
    for _ in range(200):
        x[:] = prob.x0
        wrapper(x, NO_PARAMS, prob.data, opts, info, hist, r, J)
    per_solve = (time.perf_counter() - start) / 200
    assert per_solve < 1e-3


# --- the QR building blocks against numpy -----------------------------------------------


@njit(cache=True)
def _factor(J, r):
    """qrfac (with Q^T r): (A, ipvt, rdiag, acnorm, qtf)."""
    m, n = J.shape
    mm = max(m, n)
    A = np.empty((n, mm))
    ipvt = np.empty(n, dtype=np.int64)
    rdiag = np.empty(n)
    acnorm = np.empty(n)
    wa = np.empty(n)
    qr.load_transposed(J, A)
    b = np.zeros(mm)
    b[:m] = r
    qtf = np.empty(n)
    qr.qrfac(A, ipvt, rdiag, acnorm, wa, b, qtf)
    return A, ipvt, rdiag, acnorm, qtf


@njit(cache=True)
def _qrsolv(J, r, d):
    A, ipvt, rdiag, acnorm, qtf = _factor(J, r)
    n = J.shape[1]
    x = np.empty(n)
    qr.qrsolv(A, ipvt, d, qtf, x, np.empty(n), np.empty(n))
    return x


@njit(cache=True)
def _lmpar(J, r, diag, delta):
    A, ipvt, rdiag, acnorm, qtf = _factor(J, r)
    n = J.shape[1]
    x = np.empty(n)
    par = qr.lmpar(A, ipvt, diag, qtf, delta, 0.0, x, np.empty(n), np.empty(n), np.empty(n))
    return par, x


@njit(cache=True)
def _min_norm(J, r, k):
    A, ipvt, rdiag, acnorm, qtf = _factor(J, r)
    n = J.shape[1]
    z = np.empty(n)
    qr.min_norm_solve(A, k, qtf.copy(), np.empty((n, n)), np.empty(n), z)
    x = np.empty(n)
    for j in range(n):
        x[ipvt[j]] = z[j]
    return x


@njit(cache=True)
def _enorm(a):
    return qr.enorm(a, 0, a.shape[0])


def _r_matrix(A, rdiag):
    n = A.shape[0]
    R = np.zeros((n, n))
    for j in range(n):
        for i in range(j):
            R[i, j] = A[j, i]
        R[j, j] = rdiag[j]
    return R


def _test_matrix(seed, m, n, spread):
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((m, n)) * np.logspace(0, spread, n)
    return np.ascontiguousarray(J), rng.standard_normal(m)


@pytest.mark.slow
@pytest.mark.parametrize("m, n, spread", [(8, 4, 0), (20, 3, 6), (6, 6, 3), (30, 7, 10)])
def test_qr_factorisation(m, n, spread):
    J, r = _test_matrix(m + n, m, n, spread)
    A, ipvt, rdiag, acnorm, qtf = _factor(J, r)
    R = _r_matrix(A, rdiag)
    JP = J[:, ipvt]
    gram = JP.T @ JP
    np.testing.assert_allclose(R.T @ R, gram, rtol=1e-12, atol=1e-13 * np.max(np.abs(gram)))
    np.testing.assert_allclose(acnorm, np.linalg.norm(J, axis=0), rtol=1e-14)
    assert np.all(np.abs(rdiag[1:]) <= np.abs(rdiag[:-1]) * (1 + 1e-12))  # pivoting
    # R^T Q^T r = (J P)^T r, and the least-squares solution
    g = JP.T @ r
    np.testing.assert_allclose(R.T @ qtf, g, rtol=1e-10, atol=1e-12 * np.linalg.norm(g))
    z = np.linalg.solve(R, qtf)
    x = np.empty(n)
    x[ipvt] = z
    # reference: numpy's SVD solve of the column-equilibrated problem (the SVD of J itself
    # is not scale invariant and loses the small columns' digits; the pivoted QR is)
    scale = np.linalg.norm(J, axis=0)
    expected = np.linalg.lstsq(J / scale, r, rcond=None)[0] / scale
    np.testing.assert_allclose(x, expected, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("m, n, spread", [(8, 4, 0), (20, 3, 6), (5, 5, 2)])
def test_qrsolv_solves_the_augmented_problem(m, n, spread):
    J, r = _test_matrix(2 * m + n, m, n, spread)
    d = np.linspace(0.5, 2.0, n) * np.linalg.norm(J, axis=0) * 0.3
    x = _qrsolv(J, r, d)
    augmented = np.vstack([J, np.diag(d)])
    expected = np.linalg.lstsq(augmented, np.concatenate([r, np.zeros(n)]), rcond=None)[0]
    np.testing.assert_allclose(x, expected, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("delta_factor", [10.0, 0.5, 1e-3])
def test_lmpar_meets_the_trust_region(delta_factor):
    J, r = _test_matrix(3, 12, 4, 3)
    diag = np.linalg.norm(J, axis=0)
    gauss_newton = np.linalg.lstsq(J, r, rcond=None)[0]
    delta = delta_factor * np.linalg.norm(diag * gauss_newton)
    par, x = _lmpar(J, r, diag, delta)
    if par == 0.0:
        assert np.linalg.norm(diag * x) <= 1.1 * delta
        np.testing.assert_allclose(x, gauss_newton, rtol=1e-10)
    else:
        assert abs(np.linalg.norm(diag * x) - delta) <= 0.1 * delta
        expected = np.linalg.solve(J.T @ J + par * np.diag(diag**2), J.T @ r)
        np.testing.assert_allclose(x, expected, rtol=1e-8)
    assert (par == 0.0) == (delta_factor > 1.0)


@pytest.mark.slow
def test_min_norm_solution():
    rng = np.random.default_rng(7)
    # rank 2 (columns 3 and 4 combine columns 1 and 2), and m < n
    base = rng.standard_normal((6, 2))
    J = np.ascontiguousarray(np.column_stack([base, base @ [1.0, 2.0], base @ [-0.5, 3.0]]))
    r = rng.standard_normal(6)
    x = _min_norm(J, r, 2)
    np.testing.assert_allclose(x, np.linalg.pinv(J) @ r, rtol=1e-10)
    wide = np.ascontiguousarray(rng.standard_normal((2, 5)))
    r2 = rng.standard_normal(2)
    np.testing.assert_allclose(_min_norm(wide, r2, 2), np.linalg.pinv(wide) @ r2, rtol=1e-10)


def test_enorm_is_safe():
    assert _enorm(np.array([3e200, 4e200])) == pytest.approx(5e200, rel=1e-15)
    assert _enorm(np.array([3e-200, 4e-200])) == pytest.approx(5e-200, rel=1e-15)
    assert _enorm(np.zeros(3)) == 0.0
    assert math.isnan(_enorm(np.array([np.nan, 0.0])))
    assert math.isnan(_enorm(np.array([0.0, np.nan, 1e300])))
    assert _enorm(np.array([np.inf, 1.0])) == np.inf


def test_gn_rank_deficient_step_is_minimum_norm():
    # one Gauss-Newton step on r = (s - 3, 2 s - 1), s = x1 + x2: s goes to 1 by the
    # shortest move, which changes x1 and x2 equally
    result = call("gn", sum_only_r, sum_only_j, (0.3, -2.0), 2, np.zeros((1, 1)), max_iter=1)
    np.testing.assert_allclose(result.x, [0.3 + 1.35, -2.0 + 1.35], rtol=1e-14)
