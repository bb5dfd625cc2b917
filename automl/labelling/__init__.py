"""What more labels would buy, which labels look wrong, and which items to label next.

``curve`` fits a learning curve to scores on nested subsets and forecasts 2x and 4x the labels;
``issues`` flags likely label errors by confident learning on out-of-fold probabilities;
``suggest`` ranks unlabelled items for labelling (uncertain, diverse, rare-class). All three
are pure numpy/scipy/scikit-learn: they take arrays and return frozen records.
"""
