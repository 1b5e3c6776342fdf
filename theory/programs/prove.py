"""Exact proofs that a program decodes the running product after every prefix of every word: one
:class:`Proof` type, one entry point :func:`prove`, three methods.

* ``group`` — a one-layer group program: every symbol's factor product equals ρ(x) exactly (in O(2) composed
  on angle labels), every readout is ρ(g) h_0 and the readouts are distinct, so H_t = ρ(g_t) h_0 for every
  word and nearest-readout decoding is exact.
* ``search`` — breadth-first search over configurations (readout of every layer, running product), every
  layer stepped by the exact interpreter (:class:`theory.programs.interpret.Transitions`); a DFA program's
  block levels enter it ideal, through a lemma proved for every word by finite checks
  (:func:`_check_block_level`), since their buffers would make the search infeasible.
* ``blocks`` — the S_n block programs, whose buffers make the search infeasible beyond S_3: finite checks
  that compose by induction over positions and blocks (:func:`prove_blocks`).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import sympy as sp
from sympy.combinatorics import Permutation

from theory.groups import (
    PlanarRepresentation,
    compose_planar,
    parse_group,
    planar_key_label,
    planar_label,
    planar_lemma,
)
from theory.programs.group_to_program import representation
from theory.programs.interpret import Context, Transitions, block_slots, level_before, level_swap_symbol, swap_pairs
from theory.programs.ir import ONE_LAYER, Layer, Program, is_zero

__all__ = ["Proof", "prove", "prove_blocks", "block_levels", "margin", "planar_product", "METHODS", "MAX_SEARCH",
           "MAX_COMPOSITES"]

MAX_SEARCH = 1_000_000
METHODS = ("auto", "group", "search", "blocks")


@dataclass(frozen=True)
class Proof:
    """Outcome of :func:`prove`: ``holds`` when every reachable configuration decodes to the running product
    and every layer's decoder margin is positive; ``states``: configurations covered (group elements for
    the group method, reachable (readouts, element) pairs for the search, 0 for the block induction);
    ``transitions``: exact checks made (symbol products, layer transitions); ``margins``: per layer, half
    the least distance between distinct readouts (exact); ``failure``: the first counterexample, if any."""

    holds: bool
    states: int
    transitions: int
    margins: tuple
    failure: str | None

    @property
    def margin(self) -> sp.Expr:
        """The least margin over the layers (NaN when the proof stopped before computing them)."""
        return min(self.margins, key=lambda m: sp.N(m, 30)) if self.margins else sp.nan


def margin(layer: Layer) -> sp.Expr:
    """Half the least distance between distinct readouts of a layer, exact: a state error below it cannot
    change the decoded output."""
    return sp.sqrt(layer.min_readout_distance_squared()) / 2


def prove(program: Program, *, method: str = "auto", max_states: int = MAX_SEARCH) -> Proof:
    """Exact proof that ``program`` decodes the running product (a DFA program: the DFA's state) after every
    prefix of every word (see the module). ``method="auto"`` takes ``group`` for one-layer group programs,
    ``blocks`` for the S_n block programs and ``search`` otherwise; ``search`` applies to every program
    whose configurations number at most ``max_states`` (it stops unproved beyond)."""
    if not isinstance(program, Program):
        raise TypeError(f"program: expected a compiled Program, got {type(program).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "group" if program.construction in ONE_LAYER else "search"
        method = "blocks" if program.decoder_name == "block_product" else method
    if method == "group":
        return _prove_group(program)
    if method == "blocks":
        return prove_blocks(program)
    if any(layer.kind == "planar" for layer in program.layers) and not planar_lemma():
        return Proof(False, 0, 0, (), "the planar reflection lemma did not simplify to zero")
    try:
        return _search(program, max_states)
    except ValueError as err:  # a state off the readouts, a key or point not of its planar form
        return Proof(False, 0, 0, (), str(err))


def _prove_group(program: Program) -> Proof:
    """Exact proof that a one-layer group program tracks its word problem at every length.

    ρ is first proved a faithful orthogonal representation (:meth:`theory.groups.Representation.check`:
    ρ(g·x) = ρ(x)ρ(g) for every generator x and element g, exhaustively). For every symbol x,
    G_{n_h}(x) ⋯ G_1(x) = ρ(x) in exact arithmetic (sympy; entries are rationals or
    algebraic numbers; in O(2), factors of the form H(aπ/m) are composed on their labels through the
    proven 2-D identities, :func:`theory.groups.compose_planar` and :func:`theory.groups.planar_lemma`), so
    H_t = ρ(g_t) h_0 for every word; every readout is ρ(g) h_0 and they are pairwise distinct (margin
    m > 0), so nearest-readout decoding returns g_t exactly, and any state error below m cannot change it."""
    group = parse_group(program.group)
    shape = _group_shape(program, group.order)
    if shape is not None:
        return Proof(False, 0, 0, (), shape)
    layer = program.layer
    rho = representation(group, program.construction, explicit=True)
    try:  # the induction below needs ρ(g·x) = ρ(x)ρ(g): comparing with ρ alone would prove an anti-homomorphism
        rho.check()
    except ValueError as err:
        return Proof(False, group.order, 0, (), f"the representation is not one: {err}")
    for x in range(group.order):
        if isinstance(rho, PlanarRepresentation) and planar_product(layer, x, rho.m) == planar_label(
            group.elements[x], rho.m
        ):
            continue
        diff = layer.factor_product(x) - rho.matrices[x]
        if not all(is_zero(e) for e in diff):
            return Proof(False, group.order, x + 1, (), f"symbol {x}: the factor product differs from ρ(x) by {diff}")
    h0 = sp.Matrix(layer.initial_state)
    for x in range(group.order):
        if not all(is_zero(a - b) for a, b in zip(layer.readouts[x], rho.matrices[x] * h0)):
            return Proof(False, group.order, group.order, (), f"readout {x} is not ρ(g_{x}) h_0")
    least = margin(layer)
    failure = None if least > 0 else "two group elements share a readout"
    return Proof(failure is None, group.order, group.order, (least,), failure)


def _group_shape(program: Program, order: int) -> str | None:
    """Why ``program`` is not of the one-layer group form the group method proves (None when it is): one
    layer of ``order`` symbols read as the token, values zero (B = 0), ``order`` readouts, identity lookup."""
    if len(program.layers) != 1:
        return f"a one-layer group program has one layer, got {len(program.layers)}"
    layer = program.layer
    if layer.symbol_map != "element" or layer.decode != "nearest" or layer.kind != "exact":
        return "a one-layer group program's layer is exact, reads the token and decodes to the nearest readout"
    if layer.symbols != order or len(layer.readouts) != order:
        return f"a one-layer group program has {order} symbols and readouts, got {layer.symbols}, {len(layer.readouts)}"
    if any(v != 0 for row in layer.values for v in row):
        return "a one-layer group program has zero values (B = 0)"
    if program.decoder_name != "lookup" or tuple(program.decoder) != tuple(range(order)):
        return "a one-layer group program decodes readout g to element g"
    return None


def planar_product(layer: Layer, symbol: int, m: int) -> tuple[str, int] | None:
    """The planar label (units 2π/m, as :func:`theory.groups.planar_label`) of a layer's symbol's factor product
    when every factor is a mirror H(aπ/m) (β = 2, key :func:`theory.groups.planar_key`) or the identity
    (β = 0), composed exactly on labels mod 2m; None when a factor is of another form, or the product is
    not a multiple of 2π/m."""
    if not planar_lemma():
        return None
    acc = ("R", 0)
    for key, beta in zip(layer.keys[symbol], layer.betas[symbol]):
        if beta == 0:
            continue
        try:
            label = planar_key_label(key, m)
        except ValueError:
            return None
        if beta != 2:
            return None
        acc = compose_planar(("H", label), acc, 2 * m)
    kind, a = acc
    return (kind, a // 2) if a % 2 == 0 else None


def _search(program: Program, max_states: int) -> Proof:
    """Breadth-first search over (readout of every layer, tracked state): the running product of a group
    program, the DFA state of an automaton program. A program with block levels is searched with each block
    level **ideal**: its buffer and swap layers left out and its symbol j + J·q formed from its own readout q
    before the step, which :func:`_check_block_level` proves the buffer and swap layers deliver at every t."""
    context = Context(program)
    steps = [Transitions(layer) for layer in program.layers]
    ideal = block_levels(program)
    checks = sum(_check_block_level(context, index) for index in ideal)
    inner = {i for index in ideal for i in program.layers[index].map_layers[1:]}
    start = (tuple(None if i in inner else step.initial() for i, step in enumerate(steps)), context.start)
    seen, queue = {start}, deque([start])
    while queue:
        readouts, acc = queue.popleft()
        for x in range(context.tokens):
            decoded: list = []
            for index, (layer, step, r) in enumerate(zip(program.layers, steps, readouts)):
                if index in inner:
                    decoded.append(None)
                elif index in ideal:
                    buffer = program.layers[layer.map_layers[1]]
                    symbols = buffer.symbols // buffer.period
                    context.fixed[index] = context.symbol(buffer, x, decoded) % symbols + symbols * r
                    decoded.append(step(context.fixed[index], r))
                else:  # kept in context.fixed: the chain maps above read it instead of recomputing it
                    context.fixed[index] = context.symbol(layer, x, decoded)
                    decoded.append(step(context.fixed[index], r))
            product = context.step(acc, x)
            if context.element(x, decoded) != product:
                failure = f"from configuration {readouts} with state {acc}, token {x} decodes to " \
                    f"{context.element(x, decoded)}, not {product}"  # fmt: skip
                return Proof(False, len(seen), checks + sum(len(s.table) for s in steps), (), failure)
            nxt = (tuple(decoded), product)
            if nxt not in seen:
                if len(seen) >= max_states:
                    failure = f"the search passed {max_states:,} configurations (max_states) before it closed"
                    return Proof(False, len(seen), checks + sum(len(s.table) for s in steps), (), failure)
                seen.add(nxt)
                queue.append(nxt)
    margins = tuple(margin(layer) for layer in program.layers)
    return Proof(all(m > 0 for m in margins), len(seen), checks + sum(len(s.table) for s in steps), margins, None)


def prove_blocks(program: Program) -> Proof:
    """Exact proof of an S_n block program (three or four layers) for all words, by finite checks that
    compose by induction over positions and blocks (the full search is infeasible beyond S_3: the buffer
    alone has (n!)^P configurations):

    1. counter: every token has the same counter factors, and the counter layers' exact configuration,
       stepped from the start, decodes to t mod P at every t and returns to a configuration seen before
       within 2P steps, hence for all t;
    2. buffer: symbol x + |G|·r has key e_{r mod P}, β = 1, value x + 1 and h_0 = 0, and
       h + e_j(v − e_jᵀh) replaces entry j of h by v and keeps the rest (sympy, symbolic h) — so slot
       s mod P holds x_s + 1 for the last P positions s and 0 before the word;
    3. slots: at every t ≤ 2P (beyond, the slots repeat with period P), the map and decoder read exactly the
       previous block's positions (none in block 0) and the current block's positions up to t;
    4. swaps: for every π, its swap symbols number at most P/2 and multiply to π, and the swap layer's
       exact transition of symbol s maps the readout of σ to the readout of σ·τ_s;
    5. decoder: for every state σ, product π of the previous block and step i, the decoder given the swap
       state σ·(first i + 1 swaps of π) returns σ·π (then times the current block's tokens).
    By 1–4 the swap state after block k is the running product up to the end of block k − 1, and by 3 and
    5 the decoder returns the running product at every position."""
    try:
        return _prove_blocks(program)
    except ValueError as err:
        return Proof(False, 0, 0, (), str(err))


def _prove_blocks(program: Program) -> Proof:
    if program.decoder_name != "block_product":
        raise ValueError("program: prove_blocks is for S_n block programs (decoder block_product)")
    context = Context(program)
    group, order = context.group, context.group.order
    counter, buffer_index, swap_index = program.decoder_layers
    buffer, swap = program.layers[buffer_index], program.layers[swap_index]
    period = swap.period
    checks = 0

    def fail(message):
        raise ValueError(message)

    if (swap.symbol_map, swap.map_layers, buffer.symbol_map, buffer.map_layers) != (
        "block_swaps",
        (counter, buffer_index),
        "element_with",
        (counter,),
    ):
        fail("program: the swap layer must read (counter, buffer) and the buffer the counter")
    checks += _check_counter(context, counter, period)
    # 2. the buffer
    eye = sp.eye(period)
    for r in range(context.radices[counter]):
        for x in range(order):
            s = context.symbol(buffer, x, [0] * counter + [r])
            if (
                buffer.keys[s] != (tuple(eye.row(r % period)),)
                or buffer.betas[s] != (1,)
                or buffer.values[s] != (x + 1,)
            ):
                fail(f"buffer: symbol {s} is not (e_{r % period}, β = 1, value {x + 1})")
    if any(e != 0 for e in buffer.initial_state) or [r[0] for r in buffer.readouts] != list(range(order + 1)):
        fail("buffer: h_0 is not 0 or the levels are not 0 … |G|")
    _check_slot_writes(period)
    # 3. the slots the map and the decoder read
    _check_slots(period)
    b = period // 2
    # 4. swaps, and the swap layer's exact transitions
    n = group.degree
    pairs = swap_pairs(n)
    taus = [group.elements[0]] + [Permutation(i, j, size=n) for i, j in pairs]
    for element in range(order):
        symbols = context.swaps(element)
        acc = group.elements[0]
        for s in symbols:
            acc = acc * taus[s]
        if len(symbols) > b or group.index[acc] != element:
            fail(f"swaps: element {element} is not the product of its {len(symbols)} swaps")
    transitions = Transitions(swap)
    if transitions.initial() != 0:
        fail("swap layer: h_0 is not the identity's readout")
    for sigma in range(order):
        for s in range(len(taus)):
            checks += 1
            if transitions(s, sigma) != group.index[group.elements[sigma] * taus[s]]:
                fail(f"swap layer: symbol {s} does not take element {sigma} to its product with the swap")
    # 5. the decoder (products of indices through context.times: sympy's products, memoized)
    identity_slots = [1] * period
    tau_at = [group.index[tau] for tau in taus]
    for sigma in range(order):
        for pi in range(order):
            symbols = context.swaps(pi)
            for step in range(b):
                state = sigma
                for s in symbols[: step + 1]:
                    state = context.times(state, tau_at[s])
                t = 2 * period + b + step + 1  # position `step` of a block with a predecessor
                slots = list(identity_slots)
                slots[(t - step - b) % period] = pi + 1  # the previous block: π, then identities
                decoded = [0] * len(program.layers)
                decoded[counter], decoded[buffer_index] = t % period, tuple(slots)
                decoded[swap_index] = state
                checks += 1
                if context.element(0, decoded) != context.times(sigma, pi):
                    fail(f"decoder: wrong at σ = {sigma}, π = {pi}, step {step}")
    margins = tuple(margin(layer) for layer in program.layers)
    return Proof(all(m > 0 for m in margins), 0, checks, margins, None)


def _check_counter(context: Context, counter: int, period: int) -> int:
    """Layers 0 … ``counter`` count t mod P: every token has the same factors there, and their exact
    configuration, stepped from the start, decodes to t mod P at every t and returns to a configuration seen
    P·k steps before within 2P + 1 steps, hence for all t. Returns the steps checked (a ValueError if not)."""
    below = context.program.layers[: counter + 1]
    for index, layer in enumerate(below):
        for lower in itertools.product(*(range(r) for r in context.radices[:index])):
            base = context.symbol(layer, 0, list(lower))
            for x in range(context.tokens):
                s = context.symbol(layer, x, list(lower))
                if (layer.keys[s], layer.betas[s], layer.values[s]) != (
                    layer.keys[base],
                    layer.betas[base],
                    layer.values[base],
                ):
                    raise ValueError(f"counter: token {x} has factors of its own in layer {index}")
    steps = [Transitions(layer) for layer in below]
    current = tuple(step.initial() for step in steps)
    seen = {current: 0}
    for t in range(1, 2 * period + 2):
        decoded: list = []
        for layer, step, r in zip(below, steps, current):
            decoded.append(step(context.symbol(layer, 0, decoded), r))
        current = tuple(decoded)
        if decoded[counter] % period != t % period:
            raise ValueError(f"counter: at t = {t} it reads {decoded[counter] % period}, not {t % period}")
        if current in seen and (t - seen[current]) % period == 0:
            return t
        seen[current] = t
    raise ValueError("counter: no period found within 2P steps")


def _check_slot_writes(period: int) -> None:
    """h + e_j(v − e_jᵀh) replaces entry j of h by v and keeps the rest (sympy, symbolic h and v)."""
    h = sp.Matrix(sp.symbols(f"h0:{period}"))
    v = sp.Symbol("v")
    eye = sp.eye(period)
    for j in range(period):
        k = eye[:, j]
        written = (h + k * (v - (k.T * h)[0])).applyfunc(sp.expand)
        if list(written) != [v if i == j else h[i] for i in range(period)]:
            raise ValueError(f"buffer: writing slot {j} changes other slots")


def _check_slots(period: int) -> None:
    """At every t ≤ 2P (beyond, the slots repeat with period P), :func:`block_slots` reads exactly the previous
    block's positions (none in block 0) and the current block's positions up to t."""
    b = period // 2
    for t in range(1, 2 * period + 1):
        slots = [0] * period
        for position in range(max(1, t - period + 1), t + 1):
            slots[position % period] = position + 1  # the 'token' at a position is the position itself
        step, previous, now = block_slots(t % period, tuple(slots), period)
        block = (t - 1) // b
        expected_previous = list(range((block - 1) * b + 1, block * b + 1)) if block else []
        if step != (t - 1) % b or previous != expected_previous or now != list(range(block * b + 1, t + 1)):
            raise ValueError(f"slots: at t = {t} the blocks read are {previous} and {now}")


MAX_COMPOSITES = 100_000  # composites of a block of actions that the block-level check enumerates


def block_levels(program: Program) -> list[int]:
    """The layers of ``program`` that are block levels (symbol map ``level_block``)."""
    return [i for i, layer in enumerate(program.layers) if layer.symbol_map == "level_block"]


def _check_block_level(context: Context, index: int) -> int:
    """The block-level lemma for layer ``index`` (symbol map ``level_block``, reading counter, buffer and swap
    layers): for every word, its symbol at t is j + J·q_{t−1}, where j is the buffer's chain symbol at t and
    q_t the coordinate that the level layer's own transitions give, q_t = T(j_t + J·q_{t−1}, q_{t−1}) from its
    initial readout q_0. Finite checks (a ValueError naming the first that fails; returns the checks made):

    1. the counter layers decode to t mod P for all t (:func:`_check_counter`);
    2. buffer symbol j + J·c is (e_c, β = 1, value a_j + 1) with a_j one of the A actions, then β = 0;
       h_0 = 0, levels 0 … A; a write replaces one slot (symbolic); and T(j + J·q, q) = α_{a_j}(q) for every
       j, q — so slot s mod P holds a_s + 1 for the last P positions and the coordinate moves by α_{a_t};
    3. the map and the decoder read the previous and the current block (:func:`_check_slots`);
    4. for every composite Π of b = P/2 actions (b the block length): the swap symbols the map emits at
       steps 0 … b − 1, stepped by the swap layer's exact transitions from every readout s, end on Π(s), and
       after step i the decoder returns α_0^i(Π(s)) when the current block's actions are α_0 (every sequence
       reads the same fold); in block 0 the map emits symbol 0, the identity on every readout, and the
       swap layer starts where the level does.

    By 2 and 4, by induction over blocks, the swap state at the end of block k is q at the end of block
    k − 1, and the decoder returns q_{t−1} at every t."""
    program = context.program
    level = program.layers[index]
    counter, buffer_index, swap_index = level.map_layers
    buffer, swap = program.layers[buffer_index], program.layers[swap_index]
    period, w = buffer.period, level.dim
    if (buffer.symbol_map, swap.symbol_map, swap.map_layers, buffer.map_layers[1:], swap.period, swap.dim) != (
        "chain_count", "level_swaps", (counter, buffer_index), (counter,), period, w
    ) or period < 2 or period % 2:  # fmt: skip
        raise ValueError(f"block level {index}: expected buffer (chain_count) and swap (level_swaps) layers reading "
                         "the counter, one even period, one width")  # fmt: skip
    one_hot = [tuple(sp.Integer(int(i == q)) for i in range(w)) for q in range(w)]
    if list(level.readouts) != one_hot or list(swap.readouts) != one_hot:
        raise ValueError(f"block level {index}: the level and swap readouts must be e_0 … e_{w - 1} in order")
    checks = _check_counter(context, counter, period)
    actions = context.actions(swap)
    count = len(actions)
    if not actions or any(len(m) != w or not all(0 <= p < w for p in m) for m in actions):
        raise ValueError(f"block level {index}: the swap layer's actions are not maps of {w} positions")
    # 2. buffer and level agree
    symbols = buffer.symbols // period
    eye = sp.eye(period)
    steps = Transitions(level)
    for c in range(period):
        for j in range(symbols):
            s = j + symbols * c
            value = buffer.values[s][0]
            if buffer.keys[s][0] != tuple(eye.row(c)) or buffer.betas[s][0] != 1 or not (
                value.is_Integer and 1 <= value <= count) or any(b != 0 for b in buffer.betas[s][1:]):  # fmt: skip
                raise ValueError(f"buffer: symbol {s} is not (e_{c}, β = 1, an action + 1)")
            if c == 0:
                for q in range(w):
                    checks += 1
                    if steps(j + symbols * q, q) != actions[int(value) - 1][q]:
                        raise ValueError(f"block level {index}: symbol {j + symbols * q} does not move {q} as "
                                         f"the buffer's action {int(value) - 1} does")  # fmt: skip
    if any(e != 0 for e in buffer.initial_state) or [r[0] for r in buffer.readouts] != list(range(count + 1)):
        raise ValueError("buffer: h_0 is not 0 or the levels are not 0 … A")
    if any(buffer.values[j + symbols * c][0] != buffer.values[j][0] for c in range(period) for j in range(symbols)):
        raise ValueError("buffer: a symbol's action depends on the count")
    _check_slot_writes(period)
    # 3. slots
    _check_slots(period)
    # 4. composites, swaps and the decoder
    b = period // 2
    transitions = Transitions(swap)

    def moves(symbol: int, r: int) -> int:
        try:
            return transitions(symbol, r)
        except ValueError as err:
            raise ValueError(f"swap layer: symbol {symbol} from readout {r}: {err}") from None

    if transitions.initial() != steps.initial():
        raise ValueError("swap layer: h_0 is not the level's")
    composites = {actions[a]: (a,) for a in range(count)}
    for _ in range(b - 1):
        composites = {tuple(actions[a][p] for p in m): seq + (a,) for m, seq in composites.items() for a in
                      range(count)}  # fmt: skip
        if len(composites) > MAX_COMPOSITES:
            raise ValueError(f"block level {index}: more than {MAX_COMPOSITES:,} composites of {b} actions")
    memo: dict = {}
    for t in range(1, b + 1):  # block 0
        slots = [0] * period
        for position in range(1, t + 1):
            slots[position % period] = 1
        if level_swap_symbol(actions, t % period, tuple(slots), period, memo) != 0:
            raise ValueError(f"swap map: at t = {t}, in block 0, a symbol other than 0")
    if any(moves(0, q) != q for q in range(w)):
        raise ValueError("swap layer: symbol 0 is not the identity")
    start = 2 * period + b + 1  # the first position of a block with a predecessor
    for pi, sequence in composites.items():
        slots = [1] * period  # the current block's actions: α_0
        for j, a in enumerate(sequence):  # the previous block's
            slots[(start - b + j) % period] = a + 1
        slots = tuple(slots)
        state, expected = list(range(w)), list(pi)  # expected: α_0^step(Π(s))
        for step in range(b):
            t = start + step
            symbol = level_swap_symbol(actions, t % period, slots, period, memo)
            state = [moves(symbol, r) for r in state]
            for s in range(w):
                checks += 1
                if level_before(actions, t % period, slots, state[s], period, memo) != expected[s]:
                    raise ValueError(f"block level {index}: the decoder is wrong after step {step} of composite "
                                     f"{pi} from {s}")  # fmt: skip
            expected = [actions[0][p] for p in expected]
        if state != list(pi):
            raise ValueError(f"swap layer: the swaps of composite {pi} end on {tuple(state)}")
    return checks
