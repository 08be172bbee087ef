"""The run of a prepared model, as small named pieces (`multiscale.simulation.Simulation` composes them).

========================  ==========================================================================
`prepare`                 loads, fixed dofs, the integrator, initial fields; the run length
`summary`                 what ``msim validate`` prints; the time-step check
`state.State`             atoms (local arrays, global ids, owned/ghost split), nodes, clock, checkpoint
`reduce.Reduction`        every global sum / max (ledger, momentum, temperatures, guard) over a comm
`fields.Fields`           static groups and frame fields of the results file
`operations`              Advance, Guard, ThermoWriter, FrameWriter, LastGood, Checkpoint, Progress...
`loop.OperationLoop`      advance to the next event, run the operations that are due
`dynamics` / `statics`    the two lists of operations and their start / blow-up handling
`checkpoints.RunRecord`   deck fingerprint, provenance, restart check, OUT.lastgood.h5
`blowup`                  numerical failures of a step → `BlowUpError` (exit 3)
========================  ==========================================================================
"""
