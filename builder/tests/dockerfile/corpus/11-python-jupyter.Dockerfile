ARG BASE_CONTAINER=jupyter/minimal-notebook
FROM $BASE_CONTAINER
USER root
RUN apt-get update --yes && \
    apt-get install --yes --no-install-recommends \
    ffmpeg dvipng cm-super && \
    apt-get clean && rm -rf /var/lib/apt/lists/*
USER ${NB_UID}
RUN mamba install --yes \
    'altair' \
    'beautifulsoup4' \
    'matplotlib-base' && \
    mamba clean --all -f -y && \
    fix-permissions "${CONDA_DIR}" && \
    fix-permissions "/home/${NB_USER}"
WORKDIR "${HOME}"
