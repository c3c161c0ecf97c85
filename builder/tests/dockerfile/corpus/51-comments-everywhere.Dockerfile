# A file full of comments

# the base
FROM alpine:3.19   

   # indented comment
RUN echo one \
# a comment inside a continuation
    && echo two \
    # an indented one
    && echo three

# trailing comment
	# tab-indented comment
LABEL a=b
