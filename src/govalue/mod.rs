//! Go values from DWARF: variables in scope, types, rendering as Delve does.
