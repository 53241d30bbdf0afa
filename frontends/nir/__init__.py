"""NIR frontend: ``.nir`` files and ``nir.NIRGraph`` objects to ``ir.Graph`` and back.

NIR (neuroir.org) describes neurons as continuous-time ODEs with no time step and no
reset mode; the IR is discrete-time (``ir/ops/snn.py``): exact exponential decay with
the input held over the step, ``v[t] = a v[t-1] + (1 - a)(v_leak + r I[t])`` with
``a = exp(-dt / tau)``, integrators ``v[t] = v[t-1] + dt r I[t]``, a CubaLIF synapse
first (``I[t] = b I[t-1] + (1 - b) w_in S[t]``, ``b = exp(-dt / tau_syn)``), spike
when ``v >= v_threshold``, reset ``zero`` or ``subtract``.

Each exporting framework discretised the ODE its own way before writing NIR, so the
same numbers mean different networks. A :class:`Convention` says how one framework
stepped its neurons and turns NIR's parameters into IR parameters that reproduce that
framework step for step (checked against each framework's own simulation in
``tests/fixtures/``; the equations are in ``tests/fixtures/README.md``):

============  ======================================  =================================
convention    framework step (NIR params as written)  IR params
============  ======================================  =================================
exact         the ODE stepped exactly (needs ``dt``)  unchanged; reset ``zero``
snntorch      forward Euler, dt = 1e-4 fixed:         ``tau = -dt / ln(beta)``,
              ``beta = 1 - dt/tau`` (the exporter     ``r``, ``v_leak``, ``w_in``
              wrote ``tau = dt/(1-beta)``,            unchanged (``(1 - a) r = 1``);
              ``r = tau/dt``); ``syn = alpha syn +    synapse alike:
              x``, ``mem = beta mem + syn - thr       ``tau_syn = -dt / ln(alpha)``;
              S[t-1]`` (subtract one step late,       reset ``subtract`` with
              after the decay)                        ``v_subtract = thr / beta``
rockpool      exact decay, input added unscaled:      ``tau`` unchanged,
              ``I = b (I + x)``, ``v = a v + I +      ``r = 1 / (1 - a)``,
              bias``; ``r = tau exp(-dt/tau)/dt``     ``v_leak = bias / (1 - a)``,
              (``dt`` recovered by solving this       ``w_in = w_in b / (1 - b)``;
              per neuron); ``floor(v/thr)`` spikes    ``subtract``, many spikes
sinabs        one step per unit of time (dt = 1):     ``tau = tau_steps * dt``,
              ``v += r x`` (IAF), ``v = a v + (1-a)   IF ``r = r / dt``; ``subtract``,
              x``, ``a = exp(-1/tau)``; MultiSpike    many spikes
              ``trunc(v/thr)``, MembraneSubtract
norse         forward Euler, dt = 1e-3 (default);     true constants (``tau / dt``
              Norse 1.1.0 writes ``tau = dt * tau``   when dt-scaled), then as
              (norse #411), others the true tau;      snntorch; ``w_in = w_in
              ``j = (1 - dt/tau_syn) j + x`` feeds    tau_syn / dt`` (true
              ``v`` in the same step; ``v`` starts    ``tau_syn``); reset ``zero``;
              at ``v_leak``                           ``v_init = v_leak``
============  ======================================  =================================

Norse's two ways of writing ``tau`` (``norse_tau="dt-scaled"``: Norse 1.1.0, 2024 to
May 2025; ``"true"``: before 2024 and after norse #413) are told apart by the numbers
when ``norse_tau`` is not given: a true forward-Euler ``tau`` is at least ``dt``, and
``dt * tau`` is at most ``0.1 dt`` for any ``tau`` up to 100 steps. Time constants in
between, or some of each, are refused with an error that names ``norse_tau``. A true
``tau`` ties the file to no step, so without ``dt=`` the import warns that it assumed
Norse's default 1e-3 s (the NIR paper's Norse neuron ran at 1e-4).

Resets and spikes: snnTorch and Sinabs default to reset by subtraction, Rockpool
always subtracts (Rockpool and Sinabs' ``MultiSpike`` emit ``floor(v / v_threshold)``
spikes per step), Norse and the NIR spec reset to ``v_reset`` (``zero``). No exporter
writes its reset mode, so a network trained with a non-default one (e.g. snnTorch's
``reset_mechanism="zero"``) needs ``reset=``. snnTorch's default ``reset_delay=True``
subtracts the threshold one step late, after the decay
(``mem[t+1] = beta mem[t] + x - thr S[t]``); that equals the IR subtracting
``thr / beta`` at once (``v_subtract``), spike condition unchanged. With
``reset_delay=False`` snnTorch subtracts in the same step but its spike test still
removes the delayed reset that its "avoid double reset" then adds back, so a
membrane left above threshold needs ``2 thr`` to fire again: the IR's
``refire_offset = thr`` (snnTorch 1.0.0's ``RSynaptic`` ignores ``reset_delay=False``
and keeps the delayed reset; the importer does the same, with a warning). Sinabs
clamps the membrane at ``min_v_mem`` after each reset (the IR's ``v_min``). Neither
``reset_delay`` nor ``min_v_mem`` nor the reset mode is written by the exporters:
``reset_delay=``, ``v_min=`` and ``reset=`` say them, and where they are not given
the framework's default is used with a :class:`ConventionWarning`. The IR spikes at
``v >= v_threshold``; NIR, snnTorch and Norse at ``v > thr`` (Sinabs and Rockpool at
``>=``): the two differ only when the membrane equals the threshold exactly.

With ``convention=None`` the convention is read from the file when spikeforge wrote
it (``to_nir`` stores ``dt``, reset modes and recurrent edges in NIR metadata), else
detected where the numbers leave no doubt: every leaky neuron has ``tau = r * 1e-4``,
``v_leak = 0`` (and ``tau_syn = w_in * 1e-4``) is snnTorch; integrate-and-fire
neurons with ``r = 1`` and no ``dt`` given is Sinabs; Rockpool's ``r`` formula giving
one ``dt`` for at least two different time constants is Rockpool. Anything else is a
:class:`FrontendError` that names the neuron and the argument to pass.

Exporter quirks are tolerated with a :class:`NIRImportWarning` that names them, never
silently: Rockpool 3.1's ``to_nir`` (written with nir <= 1.0.4) types the graph's
``Output`` with the export sample's batch/time dims (``(8, 1, 4)`` or ``(1, 1, 4)``
where the edge carries ``(4,)``; a 3-D type ending in the edge's size or all ones is
taken as that, any other mismatch is an error) and, with its default sample, the
``Input`` as ``[1, n]`` (taken as ``(n,)`` when only dense layers read it); it writes
``v_leak = 0`` whatever the bias and drops a recurrent ``LIFTorch``'s ``w_rec``, which
the file cannot show, so every Rockpool import says so. Time constants that leave
(almost) no memory after the mapping (per-step decay below 1e-3) are warned about, as
they are the sign of a wrong convention, ``dt`` or ``norse_tau``.

Layout: :mod:`~frontends.nir.reader` (``from_nir``: checking the file, choosing the
convention, warnings), :mod:`~frontends.nir.flatten` (nested graphs and recurrent
edges), :mod:`~frontends.nir.nodes` (one builder per NIR node type),
:mod:`~frontends.nir.conventions` (one module per exporter and the table the reader
consults; adding an exporter is adding a file there), :mod:`~frontends.nir.writer`
(``to_nir``) and :mod:`~frontends.nir.common` (warnings, shared helpers).

Structure: sub-graphs are flattened into the parent with dotted names (``g.lif``);
edges addressing ``g``, ``g.input`` or ``g.output`` go through the child's ``Input``
and ``Output`` nodes, which disappear. An edge that closes a cycle is marked recurrent
(it reads the previous step): the edge *out of* a stateful op (neuron or delay), the
last one met when the cycle is walked from its node nearest the graph inputs (for
snnTorch's ``RSynaptic`` that is ``lif -> w_rec``, so the recurrent ``Affine`` adds
its bias from the first step on, as NIR's continuous-time graph and snnTorch do).
Several edges into one node sum. Scalar neuron parameters are broadcast to the
layer's shape. Files are read without nir's type check at every level (nir >= 1.0.8
checks nested sub-graphs even with ``type_check=False``); ``ir.verify`` checks the
flattened graph.
"""

from frontends.nir.common import ConventionWarning, NIRImportWarning
from frontends.nir.conventions import CONVENTIONS, NORSE_TAU_MODES, Convention
from frontends.nir.reader import V_MIN_CHOICES, ImportInfo, from_nir, from_nir_info
from frontends.nir.writer import to_nir, write_nir

__all__ = [
    "CONVENTIONS",
    "NORSE_TAU_MODES",
    "Convention",
    "ConventionWarning",
    "ImportInfo",
    "NIRImportWarning",
    "V_MIN_CHOICES",
    "from_nir",
    "from_nir_info",
    "to_nir",
    "write_nir",
]
