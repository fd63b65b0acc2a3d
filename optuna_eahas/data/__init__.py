"""The default benchmark artifacts shipped with the package (``cifar10``, ``tinyimagenet``)."""
