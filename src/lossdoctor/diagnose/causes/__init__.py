"""One module per cause: ``ID``, ``TITLE``, ``PRODUCES`` (the curve shapes the cause makes,
each with the mechanism in a line), ``FIX`` and ``assess(ev, finding)``: rules over the
evidence, each threshold a named constant with its reason."""
