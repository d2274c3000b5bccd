"""Training on more than one process: each process's share and fastai's DDP context (ddp), and the
launcher that starts the processes and reports a failed one (launch)."""
