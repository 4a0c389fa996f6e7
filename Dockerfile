# Two images from one file.
#
# The default (last) stage, `serve`, runs `modelfab serve` on the models mounted at /models (a modelfab output dir:
# /models/serving/<model>/<version>), as a non-root user, with a HEALTHCHECK on /healthz:
#
#   docker build -t REGISTRY/modelfab-serve:0.1.0 .
#   docker run -p 8501:8501 -p 8500:8500 -v $PWD/modelfab-output:/models REGISTRY/modelfab-serve:0.1.0
#
# The `pipeline` stage is what a compiled pipeline (`modelfab compile --image ...`) runs every component in: TFX 1.16
# with this project's code at /modelfab and the exact versions of requirements.lock. It keeps TFX's entrypoint, so
# it is also Dataflow's worker image (--beam-arg=--sdk_container_image=...), with the custom ExampleGen executors
# and the Transform module code:
#
#   docker build --target pipeline -t REGISTRY/modelfab:0.1.0 .   &&   docker push REGISTRY/modelfab:0.1.0
FROM gcr.io/tfx-oss-public/tfx:1.16.0 AS pipeline

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

FROM pipeline AS serve
RUN useradd --create-home --uid 1000 --user-group modelfab && mkdir -p /models && chown modelfab:modelfab /models
USER 1000:1000
VOLUME /models
EXPOSE 8501 8500
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4)" || exit 1
# TFX's entrypoint is Beam's worker boot program; the server is started directly. SIGTERM (docker stop, Kubernetes)
# lets requests in flight finish, then exits 0.
ENTRYPOINT []
CMD ["modelfab", "serve", "--output", "/models", "--host", "0.0.0.0", "--port", "8501", "--grpc-port", "8500"]
