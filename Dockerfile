# The bridge command line in a small image: build with Go, run as a user
# without privileges.
#   docker build -t fanoutbridge/bridge .
#   docker run --rm fanoutbridge/bridge --help

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bridge ./cmd/bridge

FROM alpine:3.22
# exec: destinations run programs through the shell alpine brings.
RUN adduser -D -H -u 10001 -h /home/bridge bridge && mkdir -p /home/bridge && chown bridge /home/bridge
COPY --from=build /out/bridge /usr/local/bin/bridge
USER bridge
WORKDIR /home/bridge
ENTRYPOINT ["bridge"]
CMD ["--help"]
