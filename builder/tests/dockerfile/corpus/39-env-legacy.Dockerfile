FROM centos:7
MAINTAINER Jane Doe <jane@example.com>
ENV JAVA_HOME /usr/lib/jvm/java
ENV PATH $JAVA_HOME/bin:$PATH
ENV container docker
LABEL name="legacy" \
      vendor="Example" \
      version="1.0"
RUN yum -y install java-1.8.0-openjdk && yum clean all
EXPOSE 8080 8443
VOLUME ["/data", "/logs"]
CMD /opt/app/bin/run.sh
