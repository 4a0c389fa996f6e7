# The image that a compiled pipeline (`modelfab compile --image ...`) runs every component in: TFX 1.16 with this
# project's code at /modelfab and the exact versions of requirements.lock.
#
#   docker build -t REGISTRY/modelfab:0.1.0 .   &&   docker push REGISTRY/modelfab:0.1.0
#
# The same image serves as Dataflow's worker image (--beam-arg=--sdk_container_image=REGISTRY/modelfab:0.1.0), so
# Beam workers have the custom ExampleGen executors and the Transform module code.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# TFX's container entrypoint imports TensorFlow before any project module could set the legacy-Keras default.
ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /modelfab

# Dependencies first (a layer that changes only with the lock file), pinned exactly as in requirements.lock.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir uv==0.9.0 \
 && python -m uv pip install --system --no-cache --compile-bytecode -r requirements.lock

# The project: module code is referenced by dotted name (models.trainer.run_fn, components.*), so it must be
# importable in every component's container. Embedded data lands at /modelfab/data, where `compile` points.
COPY pyproject.toml README.md ./
COPY core ./core
COPY readers ./readers
COPY models ./models
COPY inference ./inference
COPY serving ./serving
COPY monitoring ./monitoring
COPY reports ./reports
COPY components ./components
COPY pipelines ./pipelines
COPY cli ./cli
COPY data ./data
RUN python -m uv pip install --system --no-deps --compile-bytecode . \
 && python -c "import models.trainer, components.image_example_gen, pipelines.pipeline, cli.main"
