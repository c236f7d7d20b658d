"""The offline evaluation of a frozen backbone (`pk-eval`): its features, computed once and
cached, scored by a weighted k-NN grid and a multi-head linear probe, each chosen on the
validation split and reported on the test split, at the run's label budget and N shots per
class.

    protocol.py   what a protocol returns (`Outcome`) and the choice on validation
    knn.py        weighted k-NN over a grid of k and temperatures
    linear.py     linear probes at several learning rates, trained together
    shots.py      N labeled examples per class, drawn from the labeled training split
    table.py      the results table (markdown) and its rows (JSON)
"""
