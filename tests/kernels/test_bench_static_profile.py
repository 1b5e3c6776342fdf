"""bench/static_profile.py's count of a loop's instructions in a SASS listing (the compiling itself is
tests/kernels/test_sm90_compile.py's)."""

from types import SimpleNamespace

import torch

from bench.static_profile import aligned, loop_mix

SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;                  /* 0x00000a0000017a02 */
        /*0010*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;           /* 0x0000000000007b1d */
        /*0020*/                   HGMMA.64x32x16.F32.BF16 R24, gdesc[UR4], RZ, !UPT ;
        /*0030*/              @P0  LDG.E.128 R4, desc[UR6][R2.64] ;
        /*0040*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;
        /*0050*/              @!P2 BRA 0x30 ;
        /*0060*/                   STG.E [R2.64], R4 ;
        /*0070*/              @!P1 BRA 0x20 ;
        /*0080*/                   EXIT ;
        /*0090*/                   BRA 0x90;
"""


def test_the_longest_loop_is_counted_by_opcode_with_predicates_dropped():
    """The loop is the span of the longest backward branch (0x20 – 0x70, holding a shorter one); the barrier
    before it and the final self-branch are outside; a predicated load counts as a load."""
    mix = loop_mix(SASS)
    assert mix["instructions"] == 6
    assert (mix["HGMMA"], mix["LDG"], mix["BAR"], mix["STG"], mix["HMMA"]) == (1, 1, 1, 1, 0)
    assert loop_mix(SASS.replace("BRA 0x20", "BRA 0x80"))["instructions"] == 3  # only the inner loop is left


def test_alignment_facts_are_the_launcher_s():
    """Triton's launcher tells the compiler which pointers and integers are multiples of 16 (tt.divisibility,
    what vectorised loads need): an aligned tensor and 4096 are, a tensor one float past an aligned address, 17
    and a bool are not, and constexprs get no attribute."""
    base = torch.zeros(64)
    assert base.data_ptr() % 16 == 0
    named = {"a": base, "b": base[1:], "n": 4096, "m": 17, "flag": True, "C": 64}
    fn = SimpleNamespace(params=[SimpleNamespace(name=n) for n in named])
    types = {"a": "*fp32", "b": "*fp32", "n": "i32", "m": "i32", "flag": "i1", "C": "constexpr"}
    assert aligned(fn, named, types) == {(0,): [["tt.divisibility", 16]], (2,): [["tt.divisibility", 16]]}
