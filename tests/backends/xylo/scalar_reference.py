"""An independent scalar Xylo core, straight from reference §2 (one addition at a time).

Written for the tests, deliberately unlike ``XyloEmulator``: Python integers, one
neuron, synapse and event at a time, and every place xylosim does its arithmetic in
``int16_t`` modelled with ``i16`` (two's-complement wrap): the shifted weight, the
decay step and its negation, and the threshold subtraction. ``sat16`` is xylosim's
``safe_add`` (clamp to the int16 rails).
"""

from __future__ import annotations

import numpy as np

from backends.xylo import XyloConfig

__all__ = ["dec", "i16", "sat16", "scalar_run"]


def sat16(v: int) -> int:
    return max(-32768, min(32767, v))


def i16(v: int) -> int:
    """``v`` stored into an ``int16_t`` (wraps modulo 2^16)."""
    return (v + 32768) % 65536 - 32768


def dec(v: int, d: int) -> int:
    q = i16(v >> d)  # Python's >> on int is an arithmetic (floor) shift
    if q == 0 and v != 0:
        q = 1 if v > 0 else -1
    return q


def scalar_run(cfg: XyloConfig, raster: np.ndarray) -> dict[str, list[list[int]]]:
    """Run one sample ``raster (T, Nin)``; returns per step ``out`` (output spikes),
    ``V``, ``I`` (sum of both synapses), ``I1``, ``I2``, ``S`` (hidden counts), ``Vo``
    and ``Io``."""
    v1 = cfg.variant == "xylo-v1"
    w_in = cfg.weights_in.tolist()
    w_rec = cfg.weights_rec.tolist()
    w_out = cfg.weights_out.tolist()
    nin, nhid, nsyn = cfg.weights_in.shape
    nout = cfg.weights_out.shape[1]
    dashes = [cfg.dash_syn.tolist(), cfg.dash_syn_2.tolist()]
    dm, th, b = cfg.dash_mem.tolist(), cfg.threshold.tolist(), cfg.bias.tolist()
    dmo, dso = cfg.dash_mem_out.tolist(), cfg.dash_syn_out.tolist()
    tho, bo = cfg.threshold_out.tolist(), cfg.bias_out.tolist()
    has_bias = any(b) or any(bo)
    alias = cfg.aliases.tolist()
    sh_in, sh_rec, sh_out = (
        cfg.weight_shift_in,
        cfg.weight_shift_rec,
        cfg.weight_shift_out,
    )
    isyn = [[0] * nsyn for _ in range(nhid)]
    v = [0] * nhid
    isyn_o = [0] * nout
    v_o = [0] * nout
    prev = [0] * nhid
    rec: dict[str, list[list[int]]] = {
        k: [] for k in ("out", "V", "I", "I1", "I2", "S", "Vo", "Io")
    }

    def membrane(v: int, i_sum: int, dash: int, bias: int) -> int:
        if v1:
            v = i16(v - dec(v, dash))
            return sat16(v + i_sum)
        dv = i16(-dec(v, dash))  # the negation is stored in an int16_t
        dv = sat16(dv + i_sum)
        if has_bias:
            dv = sat16(dv + bias)
        return sat16(v + dv)

    for t in range(raster.shape[0]):
        for c in range(nin):
            n = min(int(raster[t, c]), 15)
            for s in range(nsyn):
                for j in range(nhid):
                    w = i16(w_in[c][j][s] << sh_in)
                    for _ in range(n if w else 0):
                        isyn[j][s] = sat16(isyn[j][s] + w)
        for i in range(nhid):
            n = min(prev[i], 31)
            for s in range(nsyn):
                for j in range(nhid):
                    w = i16(w_rec[i][j][s] << sh_rec)
                    for _ in range(n if w else 0):
                        isyn[j][s] = sat16(isyn[j][s] + w)
        for i in range(nhid):
            for k in range(nout):
                w = i16(w_out[i][k] << sh_out)
                for _ in range(min(prev[i], 31) if w else 0):
                    isyn_o[k] = sat16(isyn_o[k] + w)
        buf = [0] * nhid
        for j in range(nhid):
            for s in range(nsyn):
                isyn[j][s] = i16(isyn[j][s] - dec(isyn[j][s], dashes[s][j]))
            v[j] = membrane(v[j], sum(isyn[j]), dm[j], b[j])
            n = buf[j]
            while v[j] >= th[j] and n < 31:
                n += 1
                v[j] = i16(v[j] - th[j])
            buf[j] = n
            if alias[j] >= 0:
                buf[alias[j]] = min(buf[alias[j]] + n, 31)
        out = [0] * nout
        for k in range(nout):
            isyn_o[k] = i16(isyn_o[k] - dec(isyn_o[k], dso[k]))
            v_o[k] = membrane(v_o[k], isyn_o[k], dmo[k], bo[k])
            n = 0
            while v_o[k] >= tho[k] and n < 1:
                n += 1
                v_o[k] = i16(v_o[k] - tho[k])
            out[k] = n
        prev = buf
        rec["out"].append(out)
        rec["V"].append(list(v))
        rec["I"].append([sum(x) for x in isyn])
        rec["I1"].append([x[0] for x in isyn])
        rec["I2"].append([x[1] if nsyn > 1 else 0 for x in isyn])
        rec["S"].append(list(buf))
        rec["Vo"].append(list(v_o))
        rec["Io"].append(list(isyn_o))
    return rec
