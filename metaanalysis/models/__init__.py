"""The models of the statistics half: each fits a table and returns a result.

- :mod:`~metaanalysis.models.reitsma`: the bivariate normal model of the logits
  (Reitsma et al. 2005), by modified Newton steps to the maximum;
- :mod:`~metaanalysis.models.mada_path`: mada's own optimisation path for it
  (IGLS, then BFGS), to reproduce mada's numbers;
- :mod:`~metaanalysis.models.likelihood`: that model's likelihood and parameter space,
  shared by both optimisers;
- :mod:`~metaanalysis.models.glmm`: the binomial-normal GLMM (Chu & Cole 2006), with
  :mod:`~metaanalysis.models.quadrature` (Laplace, adaptive Gauss-Hermite, PIRLS);
- :mod:`~metaanalysis.models.univariate`: DerSimonian-Laird and REML pooling of one
  measure at a time;
- :mod:`~metaanalysis.models.regression`: bivariate meta-regression on study covariates;
- :mod:`~metaanalysis.models.registry`: model name -> fitting function, as the command
  line and :mod:`metaanalysis.reproduce` choose them.

Models depend on the input (:mod:`metaanalysis.table`, :mod:`metaanalysis.studies`,
:mod:`metaanalysis.heterogeneity`) and on :mod:`metaanalysis.results`; never on the
views (plots, report) or on their users. This package runs nothing on import.
"""
