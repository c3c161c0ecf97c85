FROM gcc:13 AS build
RUN apt-get update && apt-get install -y cmake ninja-build
WORKDIR /src
COPY CMakeLists.txt .
COPY src/ src/
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --parallel \
 && strip build/app

FROM debian:bookworm-slim
COPY --from=build /src/build/app /usr/bin/app
ENTRYPOINT ["app"]
