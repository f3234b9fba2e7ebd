"""Rule pretrain (under torchrun; one process: alone): the one training loop (devcurriculum.train.run)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.train.run import main

if __name__ == "__main__":
    main()
