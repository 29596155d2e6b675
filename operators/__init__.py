"""Neural-operator architectures, their registry (``operators.build``) and the ``Surrogate`` prediction API.

May use ``solvers``; never ``pde_data`` or ``training``. Filled in from issue 4 on.
"""
