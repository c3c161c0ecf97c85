from alpine as builder
run echo lower
Copy . /src
workdir /src
FROM builder
cmd ["sh"]
