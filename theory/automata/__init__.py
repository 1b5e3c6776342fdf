"""Regular languages as automata: DFAs from every input, normalised, and their algebra (the transition monoid,
its class, the simple groups dividing it). Compiled into programs by :mod:`theory.programs.dfa_to_layers`."""
