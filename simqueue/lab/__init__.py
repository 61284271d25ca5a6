"""The notebook layer: pandas frames, matplotlib plots, ipywidgets views, sweeps and exports.
It reads the simulation's plain records; importing this package loads none of those libraries
until a module that needs them is imported."""
