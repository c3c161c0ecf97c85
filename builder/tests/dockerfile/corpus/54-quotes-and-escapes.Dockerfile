FROM alpine
ENV A="hello world" B='single $quoted' C=escaped\ space D="with \"quotes\""
LABEL "com.example.vendor"="ACME Incorporated" \
      com.example.label-with-value="foo" \
      description="This text illustrates \
that label-values can span multiple lines."
ENV E=${A:-default} F=${UNSET:-fallback} G=${A:+alt} H=${UNSET+alt}
RUN echo "$A" '$B'
WORKDIR /path/with\ space
