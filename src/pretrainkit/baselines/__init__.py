"""Classical (non-neural) baselines that run through `pk-finetune baseline=<name>`: a floor
any pretrained encoder should beat. `base` holds what every one shares; each kind of data has
its featurisers in a file of its own (`text`)."""
