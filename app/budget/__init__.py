"""Budget lines of agreements: who contributes what (cash or in kind), in which currency, for which year."""
