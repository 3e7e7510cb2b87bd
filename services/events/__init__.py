"""Events: conferences, theme days, round tables, workshops … created from approved activities."""
