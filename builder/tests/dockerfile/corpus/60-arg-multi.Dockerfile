ARG A=1 B C="three words"
FROM alpine:${A:-3}
ARG A B=2
ARG C
RUN echo $A $B $C
