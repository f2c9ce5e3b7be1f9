"""The compiled replication kernel of the vectorised engine (numba).

Command and control is sequential within a replication: an aircraft sent after one drone is not
there for the next, a battery's rounds are shared, and which defender a drone gets depends on who
is free when it is detected. So the replications of a chunk run one after another in a compiled
event loop, each from flat template arrays (tracks, windows and cover computed once, in numpy, by
:mod:`sim.pools`), with the same model as the discrete-event engine (:mod:`sim.engine`):

- C2 keeps an ordered list of waiting drones and assigns each to the best defender of the
  doctrine's policy among those able to engage it (one defender per drone at a time); a drone
  no defender could take is looked at again when a defender that could serve it becomes more
  available (aircraft ready or on station, a battery's engagement over or magazine refilled)
  and at every C2 cycle (multiples of ``C2_CYCLE_S``) against the airbases with an aircraft
  to offer, exactly as the discrete-event engine gates it. A plan
  of a loitering fighter that failed in a way no later start from that spot can undo (drones
  slower than fighters; see ``_fighter_plan``) is not computed again until the fighter moves:
  the answer is known, so the results are the same.
- A battery engagement runs as events, as ``Simulation._battery_engage`` does: reaction time,
  the earliest impact in an envelope window (time of flight as a fixed point), a channel held
  from the first shot to the end (first come, first served when all are busy), rounds taken from
  the magazine at each shot, waiting for the reload when it is empty, shoot-look-shoot or
  salvo, the kill draws at impact.
- A fighter intercept is computed whole when it is assigned: with one defender per drone nothing
  else can touch that drone or that aircraft meanwhile (scramble, closed-form intercept,
  shadowing until a shot is allowed, ``p_acquire``, cheapest weapon, endurance). Its end is an
  event.
- Aircraft go on station, return when out of weapons or fuel, land (the sortie is charged per
  flight hour), turn around and are ready again, as events.
- A drone that survived an engagement goes back to C2 at its end, or, if it was shot at,
  ``assessment_s`` after the last impact (an event): C2 cannot know sooner that it survived.
- Battery engagements woken at one instant resume in the order SimPy would resume them: the
  order they were scheduled in, and for those waiting for a reload, the order they began to
  wait.
- Events at the same instant go in a fixed order; a detection and a C2 cycle, which meet often
  (scans every ``scan_s``, cycles every 60 s), go in the order SimPy scheduled them.

The loop runs without numba's reference counting (``_nrt=False``) on scratch arrays allocated
once per chunk: at a few hundred events per replication, counting references on every array
passed cost more than the model itself.

Random numbers come from a SplitMix64 stream per replication, keyed by the run and the
replication's index, and the templates a replication flies from its index in its cluster
(:func:`_templates_of`), so a replication's result does not depend on how the cluster's
replications are split into calls.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from sim.strike import first_strike

__all__ = ["C2_CYCLE_S", "Scene", "Tpl", "run_chunk"]

C2_CYCLE_S = 60.0
# A failed plan is "lasting" only if short of endurance by more than this (s): far above the
# rounding of times of ~1e5 s, so that rounding cannot make a later start succeed.
_LASTING_MARGIN_S = 1e-6

# Fate and end-reason codes shared with sim.metrics.FATES and sim.tracks.END_*.
_DESTROYED, _LEAKED, _CRASHED, _EXITED, _AIRBORNE = 0, 1, 2, 3, 4
_END_LEAKED, _END_EW_LOST, _END_CRASHED, _END_EXITED, _END_HORIZON = 0, 1, 2, 3, 4

# aircraft states and pending events
_READY, _BUSY, _IDLE, _AWAY = 0, 1, 2, 3
# battery engagement states: resume the loop at eng_wake, an impact at eng_wake, waiting for a
# channel, waiting for the magazine to refill
_E_NONE, _E_STEP, _E_IMPACT, _E_CHANNEL, _E_RELOAD = 0, 1, 2, 3, 4
_EV_NONE, _EV_INTERCEPT_OVER, _EV_DEADLINE, _EV_LANDING, _EV_READY = 0, 1, 2, 3, 4

Tpl = namedtuple(
    "Tpl",
    "k vmax end reason border inside_end alt aim_x aim_y diverted bp_off bt bx by in_off in_a in_b "
    "al_off al_a al_b cov_off cov_sensor cov_a cov_b win_off win_a win_b",
)
Scene = namedtuple(
    "Scene",
    "horizon max_shots sls assess policy wave_of win_lo win_hi sen_active sen_scan sen_p "
    "nb bat_x bat_y bat_speed bat_pk bat_cost bat_wpn bat_reaction bat_cap bat_channels "
    "bat_reload bat_reload_s bat_defended na base_x base_y base_speed base_endurance base_cost_s "
    "base_cost_h "
    "base_scramble base_turn base_pacq ac_base ac_num lo_w lo_n wpn_cost wpn_pk wpn_tof "
    "wpn_min_alt wpn_max_alt",
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _unit(z: np.uint64) -> float:
    """A double in [0, 1) from the SplitMix64 state ``z``."""
    return float(_mix(z) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always")
def _uniform(state: np.ndarray) -> float:
    """A double in [0, 1) from the SplitMix64 stream in ``state[0]``."""
    state[0] += _GOLDEN
    return _unit(state[0])


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Start loading the cache line of ``arr[idx]`` (a hint: no effect on any result, and no
    fault for an index past the end)."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, inline="always")
def _stream_start(stream_key: np.uint64, rep: int) -> np.uint64:
    """The SplitMix64 state a replication's stream starts from."""
    return _mix(stream_key ^ _mix(np.uint64(rep) * _GOLDEN + np.uint64(1)))


@numba.njit(cache=True, inline="always")
def _deal_mask(k):
    """The bit mask of the smallest power of two >= ``k`` (the domain :func:`_templates_of`
    permutes), and the shift of its xorshift steps."""
    bits = 1
    while (1 << bits) < k:
        bits += 1
    return np.uint64((1 << bits) - 1), np.uint64((bits + 1) // 2)


@numba.njit(cache=True, inline="always")
def _templates_of(stream_key, cluster_first, rep, n, k, out):
    """The templates replication ``rep`` of the cluster starting at ``cluster_first`` flies.

    Templates are dealt, not drawn: the cluster's replications go in blocks of ``k``, and in
    each block every drone flies each of its ``k`` templates once, in a pseudo-random order of
    its own (a keyed bijection of ``[0, 2**bits)``, walked until it lands below ``k``). Any
    template is an exact draw of the model (each point of a shifted Sobol' set is uniform, and
    the drones' sets are independent), so each replication is exactly distributed whatever the
    order; dealing them evenly removes the noise of random template counts from the cluster's
    mean.
    """
    mask, sh = _deal_mask(k)
    rho = rep - cluster_first
    q = rho // k
    s = rho - q * k
    ck = _mix(stream_key ^ _mix(np.uint64(cluster_first) * _GOLDEN + np.uint64(2)))
    for i in range(n):
        key = _mix(ck ^ _mix(np.uint64(q * n + i) * _GOLDEN + np.uint64(3)))
        ka, kb, kc, kd = key, key >> np.uint64(16), key >> np.uint64(32), key >> np.uint64(48)
        x = np.uint64(s)
        while True:
            x = ((x + ka) * (kb | np.uint64(1))) & mask
            x ^= x >> sh
            x = ((x + kc) * (kd | np.uint64(1))) & mask
            x ^= x >> sh
            if x < np.uint64(k):
                break
        out[i] = i * k + np.int64(x)


@numba.njit(cache=True, inline="always")
def _prefetch_templates(tp, tids, n, nb):
    """Start loading the breakpoints and intervals of templates ``tids`` (prefetching their
    per-template values as well measured slower: too many loads in flight at once)."""
    for i in range(n):
        t = tids[i]
        lo = tp.bp_off[t]
        for a in (tp.bt, tp.bx, tp.by):
            _prefetch(a, lo)
        for a in (tp.in_a, tp.in_b):
            _prefetch(a, tp.in_off[t])
        for a in (tp.al_a, tp.al_b):
            _prefetch(a, tp.al_off[t])
        for a in (tp.cov_a, tp.cov_b):
            _prefetch(a, tp.cov_off[t])
        _prefetch(tp.cov_sensor, tp.cov_off[t])
        if nb:
            _prefetch(tp.win_a, tp.win_off[t * nb])
            _prefetch(tp.win_b, tp.win_off[t * nb])


# ------------------------------------------------------------------------------ track queries
@numba.njit(cache=True, inline="always")
def _norm(dx, dy):
    return math.sqrt(dx * dx + dy * dy)


@numba.njit(cache=True, inline="always")
def _pos(bp_off, bt, bx, by, d_tid, shift, end, t):
    """Position of a drone (template ``d_tid`` launched at ``shift``) at absolute time ``t``,
    clamped to its track [launch, end]."""
    if t > end:
        t = end
    lo = bp_off[d_tid]
    hi = bp_off[d_tid + 1] - 1
    rel = t - shift
    if rel <= bt[lo]:
        return bx[lo], by[lo]
    if rel >= bt[hi]:
        return bx[hi], by[hi]
    # last breakpoint <= rel
    a, b = lo, hi
    while b - a > 1:
        m = (a + b) // 2
        if bt[m] <= rel:
            a = m
        else:
            b = m
    span = bt[a + 1] - bt[a]
    f = (rel - bt[a]) / span if span > 0 else 0.0
    return bx[a] + f * (bx[a + 1] - bx[a]), by[a] + f * (by[a + 1] - by[a])


@numba.njit(cache=True, inline="always")
def _reach_time(bp_off, bt, bx, by, d_tid, shift, end, t0, x0, y0, speed):
    """Earliest time >= t0 a fighter leaving (x0, y0) at t0 can be at the drone (inf if never):
    the same closed form as ``Simulation._reach_time``."""
    if t0 > end:
        return math.inf
    lo = bp_off[d_tid]
    hi = bp_off[d_tid + 1]
    # candidate times: t0, breakpoints strictly inside (t0, end), end
    prev_t = t0
    px, py = _pos(bp_off, bt, bx, by, d_tid, shift, end, t0)
    if _norm(px - x0, py - y0) <= 0.0:
        return t0
    found = False
    ta = t0
    tb = t0
    ax, ay, bx_, by_ = px, py, px, py
    j = lo
    while True:
        t = math.inf
        while j < hi:
            tj = bt[j] + shift
            j += 1
            if t0 < tj < end:
                t = tj
                break
        last = False
        if t == math.inf:
            t = end
            last = True
        if not last and t - shift == bt[j - 1] and (j == hi or bt[j] > bt[j - 1]):
            # what _pos returns at this breakpoint, without its search
            x, y = bx[j - 1], by[j - 1]
        else:
            x, y = _pos(bp_off, bt, bx, by, d_tid, shift, end, t)
        if _norm(x - x0, y - y0) - speed * (t - t0) <= 0:
            ta, tb = prev_t, t
            bx_, by_ = x, y
            found = True
            break
        prev_t = t
        ax, ay = x, y
        if last:
            break
    if not found:
        return math.inf
    wx, wy = ax - x0, ay - y0
    span = tb - ta
    ux = (bx_ - ax) / span if span > 0 else 0.0
    uy = (by_ - ay) / span if span > 0 else 0.0
    c0 = ta - t0
    v2 = speed * speed
    qa = ux * ux + uy * uy - v2
    qb = 2.0 * (wx * ux + wy * uy - v2 * c0)
    qc = wx * wx + wy * wy - v2 * c0 * c0
    tol = 1e-9 * max(1.0, span)
    best = math.inf
    if abs(qa) > 1e-12:
        disc = qb * qb - 4.0 * qa * qc
        if disc >= 0:
            sq = math.sqrt(disc)
            for r in ((-qb - sq) / (2 * qa), (-qb + sq) / (2 * qa)):
                if -tol <= r <= span + tol and r + c0 >= -tol and r < best:
                    best = r
    elif abs(qb) > 1e-12:
        r = -qc / qb
        if -tol <= r <= span + tol and r + c0 >= -tol:
            best = r
    if best < math.inf:
        return ta + min(max(best, 0.0), span)
    return tb


# ------------------------------------------------------------------------------ plans
BP_ARGS = "bp_off bt bx by win_off win_a win_b nb bat_x bat_y bat_speed"


#: ``sim.strike.first_strike``, compiled: the SimPy engine runs the same source.
_first_strike = numba.njit(cache=True, inline="always")(first_strike)


@numba.njit(cache=True, inline="always")
def _battery_plan(bp_off, bt, bx, by, win_off, win_a, win_b, nb, bat_x, bat_y, bat_speed,
                  d_tid, shift, end, alt, b, ready):  # fmt: skip
    """(fire, impact) of battery ``b``'s earliest impact in one of its windows after ``ready``,
    or (nan, nan): per piece of track, the closed form of ``Simulation._strike_time``."""
    key = d_tid * nb + b
    sx, sy = bat_x[b], bat_y[b]
    speed = bat_speed[b]
    h2 = alt * alt
    v2 = speed * speed
    j_lo = bp_off[d_tid]
    j_hi = bp_off[d_tid + 1]
    for r in range(win_off[key], win_off[key + 1]):
        a = win_a[r] + shift
        e = min(win_b[r] + shift, end)
        if e < ready:
            continue
        lo = max(a, ready)
        # the breakpoints strictly after lo (as bisect_right on absolute times would find)
        j = j_lo
        while j < j_hi and bt[j] + shift <= lo:
            j += 1
        ta = lo
        xa, ya = _pos(bp_off, bt, bx, by, d_tid, shift, end, ta)
        ti = math.inf
        while True:
            last = not (j < j_hi and bt[j] + shift < e)
            tb = e if last else bt[j] + shift
            xb, yb = _pos(bp_off, bt, bx, by, d_tid, shift, end, tb)
            ti = _first_strike(ta, tb, xa, ya, xb, yb, sx, sy, h2, v2, ready)
            if ti < math.inf or last:
                break
            ta, xa, ya = tb, xb, yb
            j += 1
        if ti <= e:
            px, py = _pos(bp_off, bt, bx, by, d_tid, shift, end, ti)
            tof = math.sqrt((px - sx) ** 2 + (py - sy) ** 2 + h2) / speed
            return ti - tof, ti
    return math.nan, math.nan


@numba.njit(cache=True, inline="always")
def _cheapest_slot(lo_w, wpn_cost, wpn_min_alt, wpn_max_alt, j, rounds_row, alt):
    best = -1
    for s in range(lo_w.shape[1]):
        w = lo_w[j, s]
        if w < 0 or rounds_row[s] <= 0:
            continue
        if wpn_min_alt[w] <= alt <= wpn_max_alt[w] and (
            best < 0 or wpn_cost[w] < wpn_cost[lo_w[j, best]]
        ):
            best = s
    return best


FP_ARGS = (
    "bp_off bt bx by al_off al_a al_b lo_w wpn_cost wpn_min_alt wpn_max_alt wpn_tof base_x "
    "base_y base_speed base_endurance base_cost_s max_shots assess"
)


@numba.njit(cache=True, inline="always")
def _fighter_plan(bp_off, bt, bx, by, al_off, al_a, al_b, lo_w, wpn_cost, wpn_min_alt,
                  wpn_max_alt, wpn_tof, base_x, base_y, base_speed, base_endurance, base_cost_s,
                  max_shots, assess, d_tid, shift, end, alt, j, rounds_row, t0, x0, y0,
                  wheels_up):  # fmt: skip
    """(fire, impact, cost, lasting) of a fighter of airbase ``j`` leaving (x0, y0) at t0; the
    first three are nan if it cannot make the intercept.

    ``lasting``: the plan fails, and would fail for any later start from the same spot with the
    same rounds and wheels-up time, provided the drone is slower than the fighter. A later start
    reaches the drone no earlier (the fighter could have waited), so the impact comes no earlier;
    the shot then comes later by as much, and the way home shortens by less (the drone is
    slower): no weapon, no allowed window, the drone out of reach, no window it can make, or
    short of endurance by more than a rounding margin, stay so.
    """
    nan = math.nan
    s = _cheapest_slot(lo_w, wpn_cost, wpn_min_alt, wpn_max_alt, j, rounds_row, alt)
    if s < 0 or al_off[d_tid + 1] == al_off[d_tid]:
        return nan, nan, nan, True
    w = lo_w[j, s]
    tof = wpn_tof[w]
    speed = base_speed[j]
    t_reach = _reach_time(bp_off, bt, bx, by, d_tid, shift, end, t0, x0, y0, speed)
    if not math.isfinite(t_reach):
        return nan, nan, nan, True
    for r in range(al_off[d_tid], al_off[d_tid + 1]):
        a = al_a[r] + shift
        e = min(al_b[r] + shift, end)
        if e < a:
            continue
        impact = max(a, t_reach + tof)
        if impact <= e:
            fire = impact - tof
            dx, dy = _pos(bp_off, bt, bx, by, d_tid, shift, end, impact)
            home = _norm(dx - base_x[j], dy - base_y[j]) / speed
            engagement = max_shots * (tof + assess)
            if fire + engagement + home > wheels_up + base_endurance[j]:
                short = fire + engagement + home - (wheels_up + base_endurance[j])
                return nan, nan, nan, short > _LASTING_MARGIN_S
            fly = fire - t0 + home + (t0 - wheels_up if t0 > wheels_up else 0.0)
            return fire, impact, wpn_cost[w] + base_cost_s[j] * fly, False
    return nan, nan, nan, True


# ------------------------------------------------------------------------------ the kernel
@numba.njit(cache=True)
def run_chunk(tp, sc, stream_key, cluster_first, first_rep, reps, out_fate, out_fate_s,
              out_border, out_detect, out_launch, out_tid, out_kill_def, out_shots_at, shots,
              n_shots, sorties, n_sorties):  # fmt: skip
    """Run replications ``first_rep .. first_rep + reps - 1`` (global indices, for the streams)
    of the cluster whose first replication is ``cluster_first``.

    Drone ``i`` flies one of its own ``tp.k`` templates, ``i * tp.k .. (i + 1) * tp.k - 1``,
    as :func:`_templates_of` deals them.
    Per-drone outputs are (reps, N); ``shots`` is (S, 8) float rows ``rep, drone, defender,
    weapon, hit, fire, impact, cost``; ``sorties`` is (Q, 6) rows ``rep, defender, aircraft,
    wheels_up, landing, cost``; ``n_shots[0]`` / ``n_sorties[0]`` count the rows written.
    Returns False if a table ran out of room (the caller retries with more).
    """
    # Scratch space, allocated once per chunk: the loop itself runs without the reference
    # counting of numba's runtime (``_nrt=False``), which would cost more than the model.
    n = sc.wave_of.size
    nb = sc.nb
    na = sc.na
    n_ac = sc.ac_base.size
    nd = nb + na
    n_slots = sc.lo_w.shape[1]
    state = np.zeros(1, np.uint64)
    # per-drone state
    tid = np.empty(n, np.int64)
    tid_next = np.empty(n, np.int64)
    tid_after = np.empty(n, np.int64)
    shift = np.empty(n)
    end = np.empty(n)
    alt = np.empty(n)
    detect = np.empty(n)
    killed = np.empty(n)
    kill_def = np.empty(n, np.int64)
    shots_at = np.zeros(n, np.int64)
    in_pending = np.zeros(n, np.bool_)
    plist = np.empty(n, np.int64)
    snapshot = np.empty(n, np.int64)
    tried = np.zeros((n, max(nd, 1)), np.bool_)
    checked_k = np.empty(n, np.int64)
    checked_t = np.empty(n)
    eng_wake = np.empty(n)
    eng_bat = np.empty(n, np.int64)
    eng_state = np.empty(n, np.int64)
    eng_ready = np.empty(n)
    eng_shots = np.empty(n, np.int64)
    eng_nfire = np.empty(n, np.int64)
    eng_fire_t = np.empty(n)
    eng_chan = np.empty(n, np.bool_)
    eng_seq = np.empty(n, np.int64)
    back_at = np.empty(n)
    barred = np.zeros((n, max(nb, 1)), np.bool_)
    haswin = np.zeros((n, max(nb, 1)), np.bool_)
    lost = np.empty((n, max(n_ac, 1)), np.int64)
    ac_epoch = np.empty(max(n_ac, 1), np.int64)
    last_allowed = np.empty(n)
    order = np.empty(n, np.int64)
    # defenders
    last_freed = np.empty(max(nd, 1), np.int64)
    committed = np.zeros(max(nb, 1), np.int64)
    mag = np.zeros(max(nb, 1), np.int64)
    ch_used = np.zeros(max(nb, 1), np.int64)
    reload_at = np.empty(max(nb, 1))
    chq = np.empty((max(nb, 1), max(n, 1)), np.int64)
    chq_h = np.zeros(max(nb, 1), np.int64)
    chq_t = np.zeros(max(nb, 1), np.int64)
    ac_state = np.empty(max(n_ac, 1), np.int64)
    ac_x = np.empty(max(n_ac, 1))
    ac_y = np.empty(max(n_ac, 1))
    ac_up = np.empty(max(n_ac, 1))
    ac_t = np.empty(max(n_ac, 1))
    ac_ev = np.empty(max(n_ac, 1), np.int64)
    ac_d = np.empty(max(n_ac, 1), np.int64)
    ac_back = np.empty(max(n_ac, 1))
    rounds = np.empty((max(n_ac, 1), max(n_slots, 1)), np.int64)
    oncall = np.zeros(max(na, 1), np.bool_)
    only_mask = np.zeros(max(nb + na, 1), np.bool_)
    cnt = np.zeros(3, np.int64)  # waiting drones, defenders freed so far, C2 cycle ended
    return _run_chunk_core(
        tp, sc, stream_key, cluster_first, first_rep, reps, out_fate, out_fate_s, out_border,
        out_detect, out_launch, out_tid, out_kill_def, out_shots_at, shots, n_shots, sorties,
        n_sorties, state, tid, tid_next, tid_after, shift, end, alt, detect, killed, kill_def,
        shots_at, in_pending, plist, snapshot, tried, checked_k, checked_t, eng_wake, eng_bat,
        eng_state, eng_ready, eng_shots, eng_nfire, eng_fire_t, eng_chan, eng_seq, back_at, barred,
        haswin, lost, ac_epoch, last_allowed, order, last_freed, committed, mag, ch_used, reload_at,
        chq, chq_h, chq_t, ac_state, ac_x, ac_y, ac_up, ac_t, ac_ev, ac_d, ac_back, rounds, oncall,
        only_mask, cnt,
    )  # fmt: skip


@numba.njit(cache=True, _nrt=False)
def _run_chunk_core(
    tp, sc, stream_key, cluster_first, first_rep, reps, out_fate, out_fate_s, out_border,
    out_detect, out_launch, out_tid, out_kill_def, out_shots_at, shots, n_shots, sorties,
    n_sorties, state, tid, tid_next, tid_after, shift, end, alt, detect, killed, kill_def,
    shots_at, in_pending, plist, snapshot, tried, checked_k, checked_t, eng_wake, eng_bat,
    eng_state, eng_ready, eng_shots, eng_nfire, eng_fire_t, eng_chan, eng_seq, back_at, barred,
    haswin, lost, ac_epoch, last_allowed, order, last_freed, committed, mag, ch_used, reload_at,
    chq, chq_h, chq_t, ac_state, ac_x, ac_y, ac_up, ac_t, ac_ev, ac_d, ac_back, rounds, oncall,
    only_mask, cnt,
):  # fmt: skip
    """The replication loop of :func:`run_chunk`, on preallocated scratch arrays."""
    sc_bat_pk = sc.bat_pk
    sc_bat_wpn = sc.bat_wpn
    sc_sls = sc.sls
    sc_bat_reload_s = sc.bat_reload_s
    sc_assess = sc.assess
    sc_base_cost_s = sc.base_cost_s
    sc_bat_speed = sc.bat_speed
    sc_wpn_cost = sc.wpn_cost
    sc_wpn_max_alt = sc.wpn_max_alt
    sc_wpn_min_alt = sc.wpn_min_alt
    sc_wpn_tof = sc.wpn_tof
    tp_bp_off = tp.bp_off
    tp_bt = tp.bt
    tp_bx = tp.bx
    tp_by = tp.by
    sc_base_scramble = sc.base_scramble
    sc_bat_cost = sc.bat_cost
    sc_bat_reaction = sc.bat_reaction
    sc_policy = sc.policy
    tp_aim_x = tp.aim_x
    tp_aim_y = tp.aim_y
    tp_al_a = tp.al_a
    tp_al_b = tp.al_b
    tp_al_off = tp.al_off
    tp_alt = tp.alt
    tp_border = tp.border
    tp_cov_a = tp.cov_a
    tp_cov_b = tp.cov_b
    tp_cov_off = tp.cov_off
    tp_cov_sensor = tp.cov_sensor
    tp_diverted = tp.diverted
    tp_end = tp.end
    tp_in_a = tp.in_a
    tp_in_b = tp.in_b
    tp_in_off = tp.in_off
    tp_inside_end = tp.inside_end
    tp_k = tp.k
    tp_reason = tp.reason
    tp_win_a = tp.win_a
    tp_win_b = tp.win_b
    tp_win_off = tp.win_off
    sc_ac_base = sc.ac_base
    sc_ac_num = sc.ac_num
    sc_base_cost_h = sc.base_cost_h
    sc_base_endurance = sc.base_endurance
    sc_base_speed = sc.base_speed
    sc_base_turn = sc.base_turn
    sc_base_x = sc.base_x
    sc_base_y = sc.base_y
    sc_bat_cap = sc.bat_cap
    sc_bat_channels = sc.bat_channels
    sc_bat_defended = sc.bat_defended
    sc_bat_reload = sc.bat_reload
    sc_bat_x = sc.bat_x
    sc_bat_y = sc.bat_y
    sc_horizon = sc.horizon
    sc_lo_n = sc.lo_n
    sc_lo_w = sc.lo_w
    sc_max_shots = sc.max_shots
    sc_na = sc.na
    sc_nb = sc.nb
    sc_sen_active = sc.sen_active
    sc_sen_p = sc.sen_p
    sc_sen_scan = sc.sen_scan
    sc_wave_of = sc.wave_of
    sc_win_hi = sc.win_hi
    sc_win_lo = sc.win_lo
    n = sc_wave_of.size
    nb = sc_nb
    na = sc_na
    n_ac = sc_ac_base.size
    nd = nb + na
    n_slots = sc_lo_w.shape[1]
    horizon = sc_horizon
    # an airborne fighter's failed plan keeps failing while it loiters only if drones are slower
    idle_lasts = n_ac > 0
    for jb in range(na):
        if not tp.vmax * (1.0 + 1e-9) < sc_base_speed[jb]:
            idle_lasts = False

    for rr in range(reps):
        rep = first_rep + rr
        # Each drone flies one of its own templates as _templates_of deals them, known two
        # replications ahead: the pool is larger than the cache, and a template's data sit in
        # some twenty arrays, so the next replication's tracks and intervals start loading
        # while this one runs.
        if rr == 0:
            _templates_of(stream_key, cluster_first, rep, n, tp_k, tid)
            _templates_of(stream_key, cluster_first, rep + 1, n, tp_k, tid_next)
        else:
            for i in range(n):
                tid[i] = tid_next[i]
                tid_next[i] = tid_after[i]
        if rr + 1 < reps:
            _prefetch_templates(tp, tid_next, n, nb)
        if rr + 2 < reps:
            _templates_of(stream_key, cluster_first, rep + 2, n, tp_k, tid_after)
        state[0] = _stream_start(stream_key, rep)
        # ---------------------------------------------------------- tracks of this replication
        for i in range(n):
            w = sc_wave_of[i]
            lo, hi = sc_win_lo[w], sc_win_hi[w]
            shift[i] = lo + (hi - lo) * _uniform(state) if hi > lo else lo
        for i in range(n):
            t_i = tid[i]
            e = tp_end[t_i] + shift[i]
            reason = tp_reason[t_i]
            inside = tp_inside_end[t_i]
            if e > horizon:
                e = horizon
                reason = _END_HORIZON
                inside = False
                for r in range(tp_in_off[t_i], tp_in_off[t_i + 1]):
                    if tp_in_a[r] + shift[i] <= horizon <= tp_in_b[r] + shift[i]:
                        inside = True
                        break
            end[i] = e
            alt[i] = tp_alt[t_i]
            # The event loop's first read of the track, loaded now alongside the rest
            # (eng_fire_t is written before it is read, so it is a free place to put it).
            lo = tp_bp_off[t_i]
            eng_fire_t[i] = tp_bt[lo] + tp_bx[lo] + tp_by[lo]
            bt = tp_border[t_i] + shift[i]
            out_border[rr, i] = bt if bt <= e else math.nan
            out_launch[rr, i] = shift[i]
            out_tid[rr, i] = t_i
            if reason == _END_LEAKED:
                out_fate[rr, i] = _LEAKED
            elif reason in (_END_EW_LOST, _END_CRASHED):
                out_fate[rr, i] = _CRASHED
            elif reason == _END_HORIZON and inside:
                out_fate[rr, i] = _AIRBORNE
            else:
                out_fate[rr, i] = _EXITED
            # detection: one geometric draw per cover window (scans at multiples of scan_s)
            best = math.inf
            for r in range(tp_cov_off[t_i], tp_cov_off[t_i + 1]):
                m = tp_cov_sensor[r]
                a = max(tp_cov_a[r] + shift[i], sc_sen_active[m, 0])
                b = min(tp_cov_b[r] + shift[i], e, sc_sen_active[m, 1])
                p = sc_sen_p[m]
                if p <= 0:
                    continue
                u = 1.0 - _uniform(state)
                trials = 1.0 if p >= 1.0 else 1.0 + math.floor(math.log(u) / math.log1p(-p))
                if b < a:
                    continue
                scan = sc_sen_scan[m]
                k0 = math.ceil(a / scan - 1e-9)
                k1 = math.floor(b / scan + 1e-9)
                if k1 - k0 + 1 >= 1 and trials <= k1 - k0 + 1:
                    t = (k0 + trials - 1) * scan
                    if t < best:
                        best = t
            detect[i] = best if best <= e else math.nan
            out_detect[rr, i] = detect[i]
            last_allowed[i] = -math.inf
            for r in range(tp_al_off[t_i], tp_al_off[t_i + 1]):
                if tp_al_a[r] + shift[i] <= e:
                    last_allowed[i] = min(tp_al_b[r] + shift[i], e)
            for b in range(nb):
                # As the discrete-event engine sees it: a window that is still open at detection.
                haswin[i, b] = False
                key = t_i * nb + b
                for r in range(tp_win_off[key], tp_win_off[key + 1]):
                    if tp_win_a[r] + shift[i] <= e and min(tp_win_b[r] + shift[i], e) >= detect[i]:
                        haswin[i, b] = True
                        break
                dist = _norm(tp_aim_x[t_i] - sc_bat_x[b], tp_aim_y[t_i] - sc_bat_y[b])
                barred[i, b] = math.isfinite(sc_bat_defended[b]) and (
                    tp_diverted[t_i] or dist > sc_bat_defended[b]
                )
        # ---------------------------------------------------------- reset the defence
        killed[:] = math.nan
        kill_def[:] = -1
        shots_at[:] = 0
        in_pending[:] = False
        tried[:, :] = False
        lost[:, :] = -1
        ac_epoch[:] = 0
        checked_k[:] = -1
        checked_t[:] = 0.0
        eng_wake[:] = math.inf
        eng_bat[:] = -1
        n_eng = 0  # battery engagements under way
        # SimPy resumes processes woken at one instant in the order they were scheduled (those
        # waiting for a reload: in the order they began to wait): eng_seq keeps that order
        eseq = 0
        back_at[:] = math.inf
        n_back = 0  # drones whose last shot missed, back to C2 once that can be known
        eng_state[:] = _E_NONE
        eng_chan[:] = False
        last_freed[:] = -1
        committed[:] = 0
        ch_used[:] = 0
        chq_h[:] = 0
        chq_t[:] = 0
        for b in range(nb):
            mag[b] = sc_bat_cap[b]
            reload_at[b] = math.inf
        for a in range(n_ac):
            ac_state[a] = _READY
            jb = sc_ac_base[a]
            ac_x[a], ac_y[a] = sc_base_x[jb], sc_base_y[jb]
            ac_up[a] = math.nan
            ac_t[a] = math.inf
            ac_ev[a] = _EV_NONE
            ac_d[a] = -1
            for s in range(n_slots):
                rounds[a, s] = max(sc_lo_n[jb, s], 0)
        cnt[:] = 0
        tick_t = math.inf
        c2_idle = True
        # SimPy takes events of the same instant in the order they were scheduled; detections
        # (every scan_s) and the C2 cycle (every 60 s) meet often, so that order is kept:
        # (time scheduled at, sequence) of the next detection and of the next cycle.
        seq = 1
        det_sched, det_seq = 0.0, 1
        tick_sched, tick_seq = 0.0, 0
        tick_new = False
        # detection order
        nd_det = 0
        for i in range(n):
            if math.isfinite(detect[i]):
                order[nd_det] = i
                nd_det += 1
        # stable insertion sort by detection time (few drones; no allocation)
        for q in range(1, nd_det):
            v = order[q]
            k = q - 1
            while k >= 0 and detect[order[k]] > detect[v]:
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = v
        det_order = order
        p_det = 0

        while True:
            t_det = detect[det_order[p_det]] if p_det < nd_det else math.inf
            i_eng = -1
            t_eng = math.inf
            if n_eng > 0:  # else every eng_wake is inf: most events of a night meet none
                for i in range(n):
                    if eng_wake[i] < t_eng or (
                        eng_wake[i] == t_eng and t_eng < math.inf and eng_seq[i] < eng_seq[i_eng]
                    ):
                        t_eng = eng_wake[i]
                        i_eng = i
            i_back = -1
            t_back = math.inf
            if n_back > 0:
                for i in range(n):
                    if back_at[i] < t_back:
                        t_back = back_at[i]
                        i_back = i
            b_rel = -1
            t_rel = math.inf
            for b in range(nb):
                if reload_at[b] < t_rel:
                    t_rel = reload_at[b]
                    b_rel = b
            a_ev = -1
            t_ac = math.inf
            for a in range(n_ac):
                if ac_ev[a] != _EV_NONE and ac_t[a] < t_ac:
                    t_ac = ac_t[a]
                    a_ev = a
            now = min(t_det, t_eng, t_rel, t_ac, t_back, tick_t)
            if now == math.inf:
                break
            do_assign = False
            is_tick = False
            assign_who = -1
            tick_first = (
                tick_t == now
                and t_det == now
                and (tick_sched < det_sched or (tick_sched == det_sched and tick_seq < det_seq))
            )
            was_det = False
            if t_det == now and not tick_first:
                was_det = True
                d = det_order[p_det]
                p_det += 1
                if math.isnan(killed[d]) and now <= end[d]:
                    tick_t, c2_idle, tick_new = _wait_for_c2(
                        d, now, horizon, na, in_pending, plist, checked_k, cnt, c2_idle, tick_t,
                        tick_new,
                    )  # fmt: skip
                    assign_who = d
                    do_assign = True
            elif t_eng == now and not tick_first:
                # A battery engagement resumes: the loop of Simulation._battery_engage.
                d = i_eng
                b = eng_bat[d]
                eng_wake[d] = math.inf
                finished = False
                if eng_state[d] == _E_IMPACT:
                    k_n = eng_nfire[d]
                    eng_shots[d] += k_n
                    for _ in range(k_n):
                        hit = _uniform(state) < sc_bat_pk[b]
                        live = hit and math.isnan(killed[d]) and now <= end[d]
                        if not _record_shot(
                            shots, n_shots, rr, d, b, sc_bat_wpn[b], live, eng_fire_t[d], now,
                            sc_bat_cost[b],
                        ):  # fmt: skip
                            return False
                        shots_at[d] += 1
                        if live:
                            killed[d] = now
                            kill_def[d] = b
                    if math.isnan(killed[d]):
                        eng_ready[d] = now + sc_assess
                    else:
                        finished = True
                while not finished:
                    if not (math.isnan(killed[d]) and now <= end[d]) or (
                        eng_shots[d] >= sc_max_shots
                    ):
                        finished = True
                        break
                    fire, imp = _battery_plan(
                        tp_bp_off, tp_bt, tp_bx, tp_by, tp_win_off, tp_win_a, tp_win_b, sc_nb,
                        sc_bat_x, sc_bat_y, sc_bat_speed, tid[d], shift[d], end[d], alt[d], b,
                        max(eng_ready[d], now),
                    )  # fmt: skip
                    if math.isnan(imp):
                        finished = True
                        break
                    if fire > now + 1e-9:
                        eng_state[d] = _E_STEP
                        eng_wake[d] = fire
                        eng_seq[d] = eseq
                        eseq += 1
                        break
                    if not eng_chan[d]:
                        if ch_used[b] < sc_bat_channels[b]:
                            ch_used[b] += 1
                            eng_chan[d] = True
                            continue
                        chq[b, chq_t[b]] = d  # wait for a channel, first come first served
                        chq_t[b] += 1
                        eng_state[d] = _E_CHANNEL
                        break
                    if mag[b] == 0:
                        if reload_at[b] < math.inf:
                            eng_state[d] = _E_RELOAD
                            eng_seq[d] = eseq  # resumed after the reload in this order
                            eseq += 1
                        else:
                            finished = True
                        break
                    n_fire = 1 if sc_sls else min(sc_max_shots - eng_shots[d], mag[b])
                    mag[b] -= n_fire
                    if mag[b] == 0 and sc_bat_reload[b]:
                        reload_at[b] = now + sc_bat_reload_s[b]
                    eng_nfire[d] = n_fire
                    eng_fire_t[d] = now
                    eng_state[d] = _E_IMPACT
                    eng_wake[d] = imp
                    eng_seq[d] = eseq
                    eseq += 1
                    break
                if finished:
                    if mag[b] - committed[b] <= 0:
                        _freed(b, last_freed, cnt)  # it was fully committed: now it can take one
                    committed[b] -= 1
                    if eng_chan[d]:
                        eng_chan[d] = False
                        ch_used[b] -= 1
                        if chq_h[b] < chq_t[b]:
                            d2 = chq[b, chq_h[b]]
                            chq_h[b] += 1
                            eng_chan[d2] = True
                            ch_used[b] += 1
                            eng_state[d2] = _E_STEP
                            eng_wake[d2] = now
                            eng_seq[d2] = eseq
                            eseq += 1
                    eng_state[d] = _E_NONE
                    eng_bat[d] = -1
                    n_eng -= 1
                    if math.isnan(killed[d]) and now <= end[d]:
                        # after a shot, eng_ready is its impact + assessment_s
                        known = eng_ready[d] if eng_shots[d] > 0 else -math.inf
                        tick_t, c2_idle, tick_new, n_back = _survived(
                            d, known, now, horizon, na, back_at, n_back, in_pending, plist,
                            checked_k, cnt, c2_idle, tick_t, tick_new,
                        )  # fmt: skip
                    if cnt[0] > 0:
                        assign_who = -1
                        do_assign = True
            elif t_rel == now and not tick_first:
                # A magazine refilled: waiting engagements go on, C2 looks again.
                b = b_rel
                reload_at[b] = math.inf
                mag[b] = sc_bat_cap[b]
                _freed(b, last_freed, cnt)
                for d in range(n):
                    if eng_bat[d] == b and eng_state[d] == _E_RELOAD:
                        eng_state[d] = _E_STEP
                        eng_wake[d] = now
                assign_who = -1
                do_assign = True
            elif t_ac == now and not tick_first:
                a = a_ev
                jb = sc_ac_base[a]
                ev = ac_ev[a]
                ac_ev[a] = _EV_NONE
                ac_t[a] = math.inf
                speed = sc_base_speed[jb]
                call_assign = False
                if ev == _EV_INTERCEPT_OVER:
                    d = ac_d[a]
                    ac_d[a] = -1
                    if math.isnan(killed[d]) and now <= end[d]:
                        tick_t, c2_idle, tick_new, n_back = _survived(
                            d, ac_back[a], now, horizon, na, back_at, n_back, in_pending, plist,
                            checked_k, cnt, c2_idle, tick_t, tick_new,
                        )  # fmt: skip
                    left = 0
                    for s in range(n_slots):
                        left += rounds[a, s]
                    home = _norm(ac_x[a] - sc_base_x[jb], ac_y[a] - sc_base_y[jb]) / speed
                    deadline = ac_up[a] + sc_base_endurance[jb] - home
                    if left == 0 or deadline <= now:
                        ac_state[a] = _AWAY
                        ac_t[a] = now + home
                        ac_ev[a] = _EV_LANDING
                    else:
                        ac_epoch[a] += 1  # a new spot to loiter at: earlier failures no longer hold
                        ac_state[a] = _IDLE
                        ac_t[a] = deadline
                        ac_ev[a] = _EV_DEADLINE
                        _freed(nb + jb, last_freed, cnt)
                        call_assign = True
                elif ev == _EV_DEADLINE:
                    home = _norm(ac_x[a] - sc_base_x[jb], ac_y[a] - sc_base_y[jb]) / speed
                    ac_state[a] = _AWAY
                    ac_t[a] = now + home
                    ac_ev[a] = _EV_LANDING
                elif ev == _EV_LANDING:
                    q = n_sorties[0]
                    if q >= sorties.shape[0]:
                        return False
                    hours = (now - ac_up[a]) / 3600.0
                    sorties[q, 0] = rr
                    sorties[q, 1] = nb + jb
                    sorties[q, 2] = sc_ac_num[a]
                    sorties[q, 3] = ac_up[a]
                    sorties[q, 4] = now
                    sorties[q, 5] = sc_base_cost_h[jb] * hours
                    n_sorties[0] = q + 1
                    ac_x[a], ac_y[a] = sc_base_x[jb], sc_base_y[jb]
                    ac_t[a] = now + sc_base_turn[jb]
                    ac_ev[a] = _EV_READY
                else:  # ready again
                    for s in range(n_slots):
                        rounds[a, s] = max(sc_lo_n[jb, s], 0)
                    ac_state[a] = _READY
                    _freed(nb + jb, last_freed, cnt)
                    call_assign = True
                if call_assign:
                    assign_who = -1
                    do_assign = True
            elif t_back == now and not tick_first:
                # C2 learns that a drone survived its last shot, and looks at it again
                d = i_back
                back_at[d] = math.inf
                n_back -= 1
                if math.isnan(killed[d]) and now <= end[d]:
                    tick_t, c2_idle, tick_new = _wait_for_c2(
                        d, now, horizon, na, in_pending, plist, checked_k, cnt, c2_idle, tick_t,
                        tick_new,
                    )  # fmt: skip
                    assign_who = -1
                    do_assign = True
            else:  # C2 cycle
                is_tick = True
                if cnt[0] > 0:
                    assign_who = -1
                    do_assign = True
            if do_assign:
                # C2: give waiting drones to the best defender the policy allows
                # (``assign_who``: only that drone)
                nb = sc_nb
                na = sc_na
                nd = nb + na
                for j in range(na):
                    oncall[j] = _available(sc_ac_base, j, ac_state)
                n_freed = cnt[1]
                if assign_who >= 0:
                    snapshot[0] = assign_who
                    n_targets = 1
                else:
                    n_targets = cnt[0]
                    for q in range(n_targets):
                        snapshot[q] = plist[q]
                only_mask[:] = False
                for q in range(n_targets):
                    d = snapshot[q]
                    if not in_pending[d]:
                        continue
                    t_i = tid[d]
                    use_mask = False
                    due = False
                    if checked_k[d] >= 0:
                        # ``checked_t``: its last look at every available defender. A cycle
                        # since: the airbases' reach has changed, look at them again
                        due = is_tick and checked_t[d] < now
                        if checked_k[d] == n_freed and not due:
                            continue
                        if due:
                            checked_t[d] = now
                    if not (math.isnan(killed[d]) and now <= end[d]) or last_allowed[d] < now:
                        # destroyed, gone, or never again where a shot is allowed
                        _pending_remove(d, in_pending, plist, cnt)
                        continue
                    if checked_k[d] >= 0:
                        use_mask = True
                        anyone = False
                        for x in range(nd):
                            mflag = last_freed[x] >= checked_k[d]
                            if x >= nb and due and oncall[x - nb]:
                                mflag = True
                            # Only the ones that might take it: a defender it has not tried
                            # (a drone that has tried every one left the list at its first
                            # look), a battery with a window on it and a round to give, an
                            # airbase with an aircraft whose plan for it may succeed.
                            if mflag and tried[d, x]:
                                mflag = False
                            if mflag:
                                if x < nb:
                                    free = sc_bat_reload[x] or mag[x] > committed[x]
                                    mflag = haswin[d, x] and free and not barred[d, x]
                                else:
                                    mflag = _offers(sc_ac_base, x - nb, ac_state, lost, ac_epoch, d)
                            only_mask[x] = mflag
                            anyone = anyone or mflag
                        if not anyone:
                            checked_k[d] = n_freed
                            continue
                    while in_pending[d]:
                        # candidates: the best by the policy's key (k1, k2, defender)
                        best_def = -1
                        best_ac = -1
                        fire_b = imp_b = math.nan  # the best fighter's plan, if one is best
                        k1b = math.inf
                        k2b = math.inf
                        px = py = 0.0  # only the nearest-defender policy needs where it is
                        if sc_policy == 1:
                            px, py = _pos(
                                tp_bp_off, tp_bt, tp_bx, tp_by, t_i, shift[d], end[d], now
                            )
                        for b in range(nb):
                            if use_mask and not only_mask[b]:
                                continue
                            if not haswin[d, b] or tried[d, b] or barred[d, b]:
                                continue
                            if mag[b] - committed[b] <= 0 and not sc_bat_reload[b]:
                                continue
                            _, imp = _battery_plan(
                                tp_bp_off,
                                tp_bt,
                                tp_bx,
                                tp_by,
                                tp_win_off,
                                tp_win_a,
                                tp_win_b,
                                sc_nb,
                                sc_bat_x,
                                sc_bat_y,
                                sc_bat_speed,
                                t_i,
                                shift[d],
                                end[d],
                                alt[d],
                                b,
                                now + sc_bat_reaction[b],
                            )
                            if math.isnan(imp):
                                continue
                            cost = sc_bat_cost[b]
                            k1, k2 = _keys(sc_policy, cost, imp, px, py, sc_bat_x[b], sc_bat_y[b])
                            if k1 < k1b or (k1 == k1b and k2 < k2b):
                                k1b, k2b, best_def, best_ac = k1, k2, b, -1
                        for j in range(na):
                            x = nb + j
                            if use_mask and not only_mask[x]:
                                continue
                            if tried[d, x] or not _available(sc_ac_base, j, ac_state):
                                continue
                            first_ready = -1
                            for a in range(sc_ac_base.size):
                                if sc_ac_base[a] != j:
                                    continue
                                if ac_state[a] == _IDLE and lost[d, a] != ac_epoch[a]:
                                    fire, imp, cost, lasting = _fighter_plan(
                                        tp_bp_off, tp_bt, tp_bx, tp_by, tp_al_off, tp_al_a,
                                        tp_al_b, sc_lo_w, sc_wpn_cost, sc_wpn_min_alt,
                                        sc_wpn_max_alt, sc_wpn_tof, sc_base_x, sc_base_y,
                                        sc_base_speed, sc_base_endurance, sc_base_cost_s,
                                        sc_max_shots, sc_assess, t_i, shift[d], end[d], alt[d], j,
                                        rounds[a],
                                        now, ac_x[a], ac_y[a], ac_up[a],
                                    )  # fmt: skip
                                    if lasting and idle_lasts:
                                        # fails again at every later cycle while it loiters
                                        # here: do not plan it again until it moves
                                        lost[d, a] = ac_epoch[a]
                                    if not math.isnan(imp):
                                        k1, k2 = _keys(
                                            sc_policy, cost, imp, px, py, ac_x[a], ac_y[a]
                                        )
                                        if k1 < k1b or (
                                            k1 == k1b and (k2 < k2b or (k2 == k2b and x < best_def))
                                        ):
                                            k1b, k2b, best_def, best_ac = k1, k2, x, a
                                            fire_b, imp_b = fire, imp
                                elif ac_state[a] == _READY and first_ready < 0:
                                    first_ready = a
                            if first_ready >= 0:
                                a = first_ready
                                t_up = now + sc_base_scramble[j]
                                fire, imp, cost, _lasting = _fighter_plan(
                                    tp_bp_off, tp_bt, tp_bx, tp_by, tp_al_off, tp_al_a, tp_al_b,
                                    sc_lo_w, sc_wpn_cost, sc_wpn_min_alt, sc_wpn_max_alt,
                                    sc_wpn_tof, sc_base_x, sc_base_y, sc_base_speed,
                                    sc_base_endurance, sc_base_cost_s, sc_max_shots, sc_assess,
                                    t_i, shift[d], end[d], alt[d], j, rounds[a], t_up,
                                    sc_base_x[j], sc_base_y[j], t_up,
                                )  # fmt: skip
                                if not math.isnan(imp):
                                    k1, k2 = _keys(
                                        sc_policy, cost, imp, px, py, sc_base_x[j], sc_base_y[j]
                                    )
                                    if k1 < k1b or (
                                        k1 == k1b and (k2 < k2b or (k2 == k2b and x < best_def))
                                    ):
                                        k1b, k2b, best_def, best_ac = k1, k2, x, a
                                        fire_b, imp_b = fire, imp
                        if best_def < 0:
                            everyone = True
                            for b in range(nb):
                                if haswin[d, b] and not tried[d, b]:
                                    everyone = False
                            for j in range(na):
                                if not tried[d, nb + j]:
                                    everyone = False
                            if everyone:
                                _pending_remove(d, in_pending, plist, cnt)
                            else:
                                checked_k[d] = cnt[1]
                                if not use_mask:  # it was a look at every defender
                                    checked_t[d] = now
                            break
                        use_mask = False
                        # ---- take: one defender per drone, so the drone leaves the list
                        tried[d, best_def] = True
                        _pending_remove(d, in_pending, plist, cnt)
                        if best_ac < 0:
                            b = best_def
                            # Commit now, so that drones assigned at the same instant see
                            # each other's claim on the magazine; the engagement starts next.
                            committed[b] += 1
                            eng_bat[d] = b
                            n_eng += 1
                            eng_state[d] = _E_STEP
                            eng_wake[d] = now
                            eng_seq[d] = eseq
                            eseq += 1
                            eng_ready[d] = now + sc_bat_reaction[b]
                            eng_shots[d] = 0
                            eng_chan[d] = False
                            ok = True
                        else:
                            a = best_ac
                            j = sc_ac_base[a]
                            if ac_state[a] == _IDLE:
                                t0, x0, y0 = now, ac_x[a], ac_y[a]
                            else:
                                t0 = now + sc_base_scramble[j]
                                x0, y0 = sc_base_x[j], sc_base_y[j]
                                ac_up[a] = t0
                            ac_state[a] = _BUSY
                            ok = _intercept(
                                tp, sc, d, a, t0, x0, y0, fire_b, imp_b, tid, shift, end, alt,
                                killed, kill_def, shots_at, ac_x, ac_y, ac_up, ac_t, ac_ev, ac_d,
                                ac_back, rounds, state, rr, shots, n_shots,
                            )  # fmt: skip
                            if not _available(sc_ac_base, j, ac_state):
                                oncall[j] = False
                        if not ok:
                            return False
            tick_at = now  # when the next cycle is scheduled
            if is_tick:
                if cnt[0] > 0:
                    # While no airbase has an aircraft to offer and every waiting drone has been
                    # looked at since the last defender was freed, a cycle only records that it
                    # looked again: skip the cycles before the next other event in one step.
                    # An airbase with an aircraft to offer changes nothing for the drones that
                    # have all tried it; such a cycle may still drop a drone whose track or last
                    # allowed shot time has passed, so the skip stops before the first of those.
                    quiet = True
                    any_on = False
                    for j in range(na):
                        oncall[j] = _available(sc_ac_base, j, ac_state)
                        any_on = any_on or oncall[j]
                    limit = math.inf
                    for q in range(cnt[0]):
                        d = plist[q]
                        if checked_k[d] != cnt[1]:
                            quiet = False
                            break
                        if any_on:
                            limit = min(limit, end[d], last_allowed[d])
                            for j in range(na):
                                # it may still get this airbase, unless its only offers are
                                # loitering fighters whose plans for it failed for good
                                if (
                                    oncall[j]
                                    and not tried[d, nb + j]
                                    and _offers(sc_ac_base, j, ac_state, lost, ac_epoch, d)
                                ):
                                    quiet = False
                                    break
                            if not quiet:
                                break
                    if quiet:
                        t_next = detect[det_order[p_det]] if p_det < nd_det else math.inf
                        for i in range(n):
                            t_next = min(t_next, eng_wake[i], back_at[i])
                        for b in range(nb):
                            t_next = min(t_next, reload_at[b])
                        for a in range(n_ac):
                            if ac_ev[a] != _EV_NONE:
                                t_next = min(t_next, ac_t[a])
                        m = math.floor((horizon - now) / C2_CYCLE_S)
                        if t_next < math.inf:
                            m = min(m, math.ceil((t_next - now) / C2_CYCLE_S) - 1)
                        if limit < math.inf:
                            m = min(m, math.floor((limit - now) / C2_CYCLE_S))
                        if m >= 1:
                            tick_at = now + m * C2_CYCLE_S
                            for q in range(cnt[0]):
                                checked_t[plist[q]] = tick_at
                    nxt = tick_at + C2_CYCLE_S
                    if nxt > horizon:
                        cnt[2] = 1
                        tick_t = math.inf
                    else:
                        tick_t = nxt
                        tick_new = True
                else:
                    tick_t = math.inf
                    c2_idle = True
            if was_det and (p_det >= nd_det or detect[det_order[p_det]] > now):
                seq += 1
                det_sched, det_seq = now, seq
            if tick_new:
                seq += 1
                tick_sched, tick_seq = tick_at, seq
                tick_new = False

        # ---------------------------------------------------------- outputs
        for i in range(n):
            if not math.isnan(killed[i]):
                out_fate[rr, i] = _DESTROYED
                out_fate_s[rr, i] = killed[i]
                if out_border[rr, i] > killed[i]:  # shot down before it reached the border
                    out_border[rr, i] = math.nan
            else:
                out_fate_s[rr, i] = end[i]
            out_kill_def[rr, i] = kill_def[i]
            out_shots_at[rr, i] = shots_at[i]
    return True


@numba.njit(cache=True, inline="always")
def _wake(now, horizon, cnt):
    nxt = (math.floor(now / C2_CYCLE_S) + 1.0) * C2_CYCLE_S
    if nxt > horizon:
        cnt[2] = 1
        return math.inf, False
    return nxt, False


@numba.njit(cache=True, inline="always")
def _wait_for_c2(d, now, horizon, na, in_pending, plist, checked_k, cnt, c2_idle, tick_t,
                 tick_new):  # fmt: skip
    """Drone ``d`` waits for C2 (again, from scratch); the C2 cycle wakes if it sleeps."""
    _pending_add(d, in_pending, plist, cnt)
    checked_k[d] = -1
    if c2_idle and na > 0 and cnt[2] == 0:
        tick_t, c2_idle = _wake(now, horizon, cnt)
        tick_new = True
    return tick_t, c2_idle, tick_new


@numba.njit(cache=True, inline="always")
def _survived(d, known_at, now, horizon, na, back_at, n_back, in_pending, plist, checked_k, cnt,
              c2_idle, tick_t, tick_new):  # fmt: skip
    """Drone ``d`` came through an engagement: it waits for C2 now, or from ``known_at`` if that
    is later (``assessment_s`` after its last impact, when C2 can know that it missed)."""
    if known_at > now:
        back_at[d] = known_at
        n_back += 1
    else:
        tick_t, c2_idle, tick_new = _wait_for_c2(
            d, now, horizon, na, in_pending, plist, checked_k, cnt, c2_idle, tick_t, tick_new
        )
    return tick_t, c2_idle, tick_new, n_back


@numba.njit(cache=True, inline="always")
def _freed(defender, last_freed, cnt):
    last_freed[defender] = cnt[1]
    cnt[1] += 1


@numba.njit(cache=True, inline="always")
def _pending_add(d, in_pending, plist, cnt):
    if not in_pending[d]:
        in_pending[d] = True
        plist[cnt[0]] = d
        cnt[0] += 1


@numba.njit(cache=True, inline="always")
def _pending_remove(d, in_pending, plist, cnt):
    if in_pending[d]:
        in_pending[d] = False
        k = 0
        for q in range(cnt[0]):
            if plist[q] != d:
                plist[k] = plist[q]
                k += 1
        cnt[0] = k


@numba.njit(cache=True, inline="always")
def _available(ac_base, j, ac_state):
    for a in range(ac_base.size):
        if ac_base[a] == j and (ac_state[a] == _READY or ac_state[a] == _IDLE):
            return True
    return False


@numba.njit(cache=True, inline="always")
def _offers(ac_base, j, ac_state, lost, ac_epoch, d):
    """Whether airbase ``j`` has an aircraft whose plan for drone ``d`` may succeed: one ready on
    the ground, or one on station whose plan for it has not failed for good (``lost``)."""
    for a in range(ac_base.size):
        if ac_base[a] == j and (
            ac_state[a] == _READY or (ac_state[a] == _IDLE and lost[d, a] != ac_epoch[a])
        ):
            return True
    return False


@numba.njit(cache=True, inline="always")
def _record_shot(shots, n_shots, rr, d, defender, weapon, hit, fire, impact, cost):
    q = n_shots[0]
    if q >= shots.shape[0]:
        return False
    shots[q, 0] = rr
    shots[q, 1] = d
    shots[q, 2] = defender
    shots[q, 3] = weapon
    shots[q, 4] = 1.0 if hit else 0.0
    shots[q, 5] = fire
    shots[q, 6] = impact
    shots[q, 7] = cost
    n_shots[0] = q + 1
    return True


@numba.njit(cache=True, inline="always")
def _keys(policy, cost, impact, px, py, x, y):
    if policy == 0:  # cheapest
        return cost, impact
    if policy == 2:  # layered
        return impact, cost
    return _norm(px - x, py - y), impact  # nearest


@numba.njit(cache=True, inline="always")
def _intercept(tp, sc, d, a, t0, x0, y0, fire0, imp0, tid, shift, end, alt, killed, kill_def,
               shots_at, ac_x, ac_y, ac_up, ac_t, ac_ev, ac_d, ac_back, rounds, state, rr, shots,
               n_shots):  # fmt: skip
    """A whole intercept by aircraft ``a`` starting at ``t0`` from (x0, y0); its end becomes an
    event. (``fire0``, ``imp0``) is the plan C2 chose it by."""
    sc_base_cost_s = sc.base_cost_s
    sc_base_endurance = sc.base_endurance
    sc_base_speed = sc.base_speed
    sc_base_x = sc.base_x
    sc_base_y = sc.base_y
    sc_wpn_max_alt = sc.wpn_max_alt
    sc_wpn_min_alt = sc.wpn_min_alt
    sc_wpn_tof = sc.wpn_tof
    tp_al_a = tp.al_a
    tp_al_b = tp.al_b
    tp_al_off = tp.al_off
    tp_bp_off = tp.bp_off
    tp_bt = tp.bt
    tp_bx = tp.bx
    tp_by = tp.by
    sc_ac_base = sc.ac_base
    sc_assess = sc.assess
    sc_base_pacq = sc.base_pacq
    sc_lo_w = sc.lo_w
    sc_max_shots = sc.max_shots
    sc_nb = sc.nb
    sc_sls = sc.sls
    sc_wpn_cost = sc.wpn_cost
    sc_wpn_pk = sc.wpn_pk
    t_i = tid[d]
    j = sc_ac_base[a]
    nb = sc_nb
    t = t0
    x, y = x0, y0
    ready = t0
    n_shot = 0
    acquired = False
    back = -math.inf  # when C2 can know the drone survived the last shot
    # A plan stays good while the aircraft flies it: C2's, and the one it shadows the drone by
    # (from the drone's side at ``fire`` it would reach it at once and fire then: the same plan).
    fire, imp = fire0, imp0
    planned = True
    while math.isnan(killed[d]) and t <= end[d] and n_shot < sc_max_shots:
        if planned:
            planned = False
        else:
            fire, imp, _cost, _lasting = _fighter_plan(
                tp_bp_off, tp_bt, tp_bx, tp_by, tp_al_off, tp_al_a, tp_al_b, sc_lo_w, sc_wpn_cost,
                sc_wpn_min_alt, sc_wpn_max_alt, sc_wpn_tof, sc_base_x, sc_base_y, sc_base_speed,
                sc_base_endurance, sc_base_cost_s, sc_max_shots, sc_assess, t_i, shift[d], end[d],
                alt[d], j, rounds[a], ready, x, y, ac_up[a],
            )  # fmt: skip
        if math.isnan(imp):
            break
        if fire > t + 1e-9:
            t = fire
            x, y = _pos(tp_bp_off, tp_bt, tp_bx, tp_by, t_i, shift[d], end[d], t)
            ready = t
            planned = True
            continue
        x, y = _pos(tp_bp_off, tp_bt, tp_bx, tp_by, t_i, shift[d], end[d], t)
        if not acquired:
            if sc_base_pacq[j] < 1.0 and _uniform(state) >= sc_base_pacq[j]:
                break
            acquired = True
        s = _cheapest_slot(
            sc_lo_w, sc_wpn_cost, sc_wpn_min_alt, sc_wpn_max_alt, j, rounds[a], alt[d]
        )
        w = sc_lo_w[j, s]
        n_fire = 1 if sc_sls else min(sc_max_shots - n_shot, rounds[a, s])
        rounds[a, s] -= n_fire
        fire_t = t
        t = imp
        x, y = _pos(tp_bp_off, tp_bt, tp_bx, tp_by, t_i, shift[d], end[d], t)
        n_shot += n_fire
        for _ in range(n_fire):
            hit = _uniform(state) < sc_wpn_pk[w]
            live = hit and math.isnan(killed[d]) and t <= end[d]
            if not _record_shot(shots, n_shots, rr, d, nb + j, w, live, fire_t, t,
                                sc_wpn_cost[w]):  # fmt: skip
                return False
            shots_at[d] += 1
            if live:
                killed[d] = t
                kill_def[d] = nb + j
        if not math.isnan(killed[d]):
            break
        ready = t + sc_assess
        back = ready
    ac_x[a], ac_y[a] = x, y
    ac_t[a] = t
    ac_back[a] = back
    ac_ev[a] = _EV_INTERCEPT_OVER
    ac_d[a] = d
    return True
