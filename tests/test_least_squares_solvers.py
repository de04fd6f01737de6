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
from symopt.solvers import status

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
        r[k] = math.exp(-t * x[0]) - math.exp(-t * x[1]) - x[2] * (math.exp(-t) - math.exp(-10.0 * t))


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
    Problem("boxbod", exp_rise_r, exp_rise_j, 6, (1.0, 1.0),
            (2.1380940889e02, 5.4723748542e-01), 1.1680088766e03, BOXBOD_DATA),
    Problem("mgh09", mgh09_r, mgh09_j, 11, (25.0, 39.0, 41.5, 39.0),
            (1.9280693458e-01, 1.9128232873e-01, 1.2305650693e-01, 1.3606233068e-01),
            3.0750560385e-04, MGH09_DATA),
    Problem("rat43", rat43_r, rat43_j, 15, (100.0, 10.0, 1.0, 1.0),
            (6.9964151270e02, 5.2771253025e00, 7.5962938329e-01, 1.2792483859e00),
            8.7864049080e03, RAT43_DATA),
]}
