"""External force engines: codes outside msim that compute total forces and per-atom energies of the atoms
of one region (`lammps_lib`: loading the LAMMPS shared library; `lammps_engine`: one persistent LAMMPS
instance per region). The msim potentials that use them live in `multiscale.md.potentials` (``lammps``,
``ase``)."""
