# The release image: cluster as PID 1 (it reaps orphans and stops gracefully
# on SIGTERM). Copy your app and its Clusterfile in a derived image.
FROM gcr.io/distroless/static-debian12
COPY cluster /usr/local/bin/cluster
WORKDIR /app
ENTRYPOINT ["/usr/local/bin/cluster"]
CMD ["run"]
