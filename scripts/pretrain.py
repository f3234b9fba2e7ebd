"""Rule pretrain (under torchrun): the one training loop (devcurriculum.train.run)."""

from devcurriculum.train.run import main

if __name__ == "__main__":
    main()
